"""The ground floor: what every layer uses and that uses nothing of jivocrm above it.

Errors and diagnostics, phone numbers and e-mails, the retry policy, the records of a run and
its steps, logs and text made storable, what a value means to ``when:``.
"""
