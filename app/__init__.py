"""crm-events infrastructure: settings, Faust app, bridge, agents, event store, CRM clients, CLI."""
