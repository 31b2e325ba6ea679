"""The journal's services, shared by the daemon (``server``) and the CLI alike.

The execution of a claimed run and its one way of ending (``execution``), replays (``replay``),
what the pages and commands show (``views``, ``channels``, ``refusals``), what they hide
(``redaction``) and what is deleted when (``retention``).
"""
