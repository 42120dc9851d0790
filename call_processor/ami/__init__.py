"""The AMI adapter: pure wire, actions, events and outcomes; the transport and the client
over panoramisk; the per-call event queue (docs/protocols.md, AMI)."""
