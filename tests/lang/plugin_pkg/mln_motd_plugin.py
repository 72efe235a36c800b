"""`motd { text "..." }`: a host plugin from outside MLN web."""

from projects.lang.plugins import HostPlugin


class Motd(HostPlugin):
    def check(self, block, errors):
        if not isinstance(block.get("text"), str):
            errors.add(block.pos, "motd needs `text MESSAGE`", "plugin")

    def guest_config(self, block):
        return {"motd": block["text"]}
