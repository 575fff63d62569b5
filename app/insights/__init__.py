"""Program metrics for the operator: see service.py."""
