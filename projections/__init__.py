"""The read side: projections of domain events into Faust tables, and the read API."""
