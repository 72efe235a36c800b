"""`mln check`, `mln expand`, `mln fmt`: the language tools (filled in by the language work)."""


def register(verbs):
    pass
