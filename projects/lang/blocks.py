"""The resolved block: a dict exactly as `mln expand` prints it, plus where
each key was set, so checks after expansion can name a file, line and column.

A Block compares and serializes as a plain dict; code that receives a plain
dict (a tree read back from JSON) simply has no positions.
"""

from .errors import MlnError


class Block(dict):
    __slots__ = ("keypos", "valpos", "named", "pos")

    def __init__(self, *args, pos=None, named=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.keypos = {}  # key -> Position of the statement that set it
        self.valpos = {}  # key -> Position of its first value word (the key's, for flags and blocks)
        self.named = named  # holds named sub-blocks (`network eth0 { }`), keyed by name
        self.pos = pos  # where the block itself starts

    def put(self, key, value, keypos=None, valpos=None):
        self[key] = value
        if keypos is not None:
            self.keypos[key] = keypos
            self.valpos[key] = valpos or keypos

    def without(self, *keys):
        block = Block(pos=self.pos, named=self.named)
        for key, value in self.items():
            if key not in keys:
                block.put(key, value, self.keypos.get(key), self.valpos.get(key))
        return block

    def where(self, key):
        """The position of a key's value, or of the block when the key is not set here."""
        return self.valpos.get(key) or self.pos

    def __reduce__(self):
        return (dict, (dict(self),))  # pickles and deep-copies as the plain dict it prints as


def merge(base, over):
    """Deep merge: blocks merge key by key and `over` wins every conflict.

    Keys keep the order of `base`, with the keys only `over` has after them,
    which is how an inherited host reads: the superclass's settings in place,
    overridden where the host says so, then the host's own.
    """
    result = Block(
        pos=getattr(over, "pos", None) or getattr(base, "pos", None),
        named=getattr(over, "named", False) or getattr(base, "named", False),
    )
    for source in (base, over):
        for key, value in source.items():
            current = result.get(key)
            if isinstance(current, dict) and isinstance(value, dict):
                value = merge(current, value)
            elif isinstance(value, dict):
                value = merge(Block(), value)  # a copy, so no two hosts share a block
            result.put(key, value, _pos(source, "keypos", key), _pos(source, "valpos", key))
    return result


def _pos(block, table, key):
    return getattr(block, table, {}).get(key)


def duplicate(errors, what, pos, first):
    """A key set twice: the error is at the second place and names the first."""
    errors.errors.append(MlnError.at(pos, f"{what} is set twice in this block (first at {first})", "duplicate-key"))
