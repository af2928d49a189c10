"""Clients of the Temporal server used from outside a workflow: the connection every process shares."""
