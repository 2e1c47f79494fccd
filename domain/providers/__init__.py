"""Provider adapters (anti-corruption layer): provider payloads in, `RecordChange`s out."""
