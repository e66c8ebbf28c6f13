"""Who may see a request, and who is up.

:mod:`.policy` decides which members may see a request (sensitivity levels, rules, the
:mod:`.detector` of secrets and personal data); :mod:`.gatekeeper` admits a request to a
panel and writes the audit line; :mod:`.breaker` and :mod:`.health` track which members
answer. The rest of the engine imports these modules by their full paths; nothing is
re-exported here, so importing the package costs nothing.
"""
