"""The guarantee project: its states, the table of events that move it, its record.

Sits above ``records`` (a project is created from a submitted application record) and
below ``web``; nothing below it imports it. docs/lifecycle.md describes the lifecycle.
"""
