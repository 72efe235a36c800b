"""`apache { doc_root DIR; max_connections N }`: a web server in the guest."""

from . import HostPlugin


class Apache(HostPlugin):
    def check(self, block, errors):
        limit = block.get("max_connections")
        if limit is not None and not (
            isinstance(limit, str) and limit.isascii() and limit.isdigit() and len(limit) <= 9
        ):
            errors.add(block.where("max_connections"), "apache max_connections must be a whole number", "plugin")

    def guest_config(self, block):
        config = {"doc_root": block.get("doc_root", "/var/www")}
        if "max_connections" in block:
            config["max_connections"] = int(block["max_connections"])
        return config
