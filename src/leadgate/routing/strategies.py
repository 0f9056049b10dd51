"""The routing strategies a pool may name, in a module of their own: the playbook's schema
checks a pool's `strategy` against them without importing the routing rules
(`leadgate.routing.core`, with its ~4,800 free-mail domains), which reading a stored
playbook does not need (issue 17).

    >>> "least_loaded" in STRATEGIES
    True
"""

STRATEGIES = ("round_robin", "weighted_round_robin", "least_loaded")
