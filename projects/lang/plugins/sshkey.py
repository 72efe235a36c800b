"""`sshkey { USER PUBLIC_KEY_FILE ... }`: public keys installed for guest users."""

from . import HostPlugin


class Sshkey(HostPlugin):
    def check(self, block, errors):
        for user, path in block.items():
            if not isinstance(path, str):
                errors.add(block.where(user), f"sshkey {user} needs the path of a public key file", "plugin")

    def guest_config(self, block):
        return {"keys": [{"user": user, "file": path} for user, path in block.items()]}
