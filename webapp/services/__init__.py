"""Account-security actions, each one unit of work.

A service function owns "check the policy, change, record the event, end other
sessions where required, commit" — once. Routes parse the request, call one of these
and render what it returns; they never commit or write models themselves.
"""
