"""The crm-events domain: pure business rules for CRM record histories.

Nothing in this package performs I/O or imports a framework; an import test keeps it that way.
"""
