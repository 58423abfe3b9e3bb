"""Scenarios: ``spec`` loads the YAML files of lab/scenarios/ into typed objects,
``faults`` injects and removes faults, ``steps`` runs one step in the client
container, ``expect`` checks the expectations, ``runner`` drives a whole run.
"""
