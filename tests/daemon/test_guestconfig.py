"""The NoCloud seed of a host, read back as a guest would read it.

pycdlib reads the ISO 9660 image (by its Joliet names, as Linux does) and
PyYAML, which cloud-init uses, parses the three files.
"""

import io
import subprocess
import warnings

import pycdlib
import pytest
import yaml

from daemon.agent import guest_config
from daemon.agent.guest_config import GuestConfigError, hash_password, write_seed
from projects.lang.spec import HostSpec, InterfaceSpec, Position

MAC = "52:54:00:12:34:56"
SHA512 = (
    "$6$rounds=5000$usesomesillystri$D4IrlXatmP7rx3P3InaxBeoomnAihCKRVQP22JZ6EY47Wc6BkroIuUUBOov1i."
    "S5KPgErtP/EN5mcO.ChWQW21"
)


def read_seed(path):
    iso = pycdlib.PyCdlib()
    iso.open(str(path))
    try:
        files = {}
        for name in ("meta-data", "user-data", "network-config"):
            out = io.BytesIO()
            iso.get_file_from_iso_fp(out, joliet_path=f"/{name}")
            files[name] = out.getvalue().decode()
        label = iso.pvd.volume_identifier.decode().strip()
    finally:
        iso.close()
    assert files["user-data"].startswith("#cloud-config\n")
    return label, {name: yaml.safe_load(text) for name, text in files.items()}


def ldapserver(**changes):
    """Listing 1's server, with a root password in plain text."""
    fields = dict(
        name="ldapserver",
        nameserver="10.0.0.15",
        root_passwd="s3cret-root",
        users={"kyrre": "l47/Y.NtB9p7w"},
        interfaces=[
            InterfaceSpec("eth0", switch="LDAPlan", address="10.0.0.2", netmask="255.255.255.0", gateway="10.0.0.1")
        ],
        position=Position("ldaptest.mln", 22, 1),
    )
    return HostSpec(**{**fields, **changes})


def seed_of(tmp_path, host, macs=None, **kwargs):
    return read_seed(
        write_seed(
            "ldaptest", host, {"eth0": MAC} if macs is None else macs, tmp_path / f"{host.name}.seed.img", **kwargs
        )
    )


def test_seed_is_labelled_cidata_and_names_the_host(tmp_path):
    label, seed = seed_of(tmp_path, ldapserver())
    assert label == "cidata"
    assert seed["meta-data"]["local-hostname"] == "ldapserver"
    assert seed["meta-data"]["instance-id"].startswith("ldaptest-ldapserver-")


def test_static_address_with_netmask_gateway_and_nameserver(tmp_path):
    _, seed = seed_of(tmp_path, ldapserver())
    assert seed["network-config"] == {
        "version": 2,
        "ethernets": {
            "eth0": {
                "match": {"macaddress": MAC},
                "set-name": "eth0",
                "dhcp4": False,
                "addresses": ["10.0.0.2/24"],
                "routes": [{"to": "0.0.0.0/0", "via": "10.0.0.1"}],
                "nameservers": {"addresses": ["10.0.0.15"]},
            }
        },
    }


def test_dhcp_interface_and_interface_without_address(tmp_path):
    host = ldapserver(interfaces=[InterfaceSpec("eth0", address="dhcp"), InterfaceSpec("eth1", switch="lan")])
    _, seed = seed_of(tmp_path, host, macs={"eth0": "52:54:00:00:00:01", "eth1": "52:54:00:00:00:02"})
    ethernets = seed["network-config"]["ethernets"]
    assert ethernets["eth0"]["dhcp4"] is True and "addresses" not in ethernets["eth0"]
    assert ethernets["eth1"] == {"match": {"macaddress": "52:54:00:00:00:02"}, "set-name": "eth1"}


def test_interface_with_nothing_to_configure_is_an_empty_mapping(tmp_path):
    _, seed = seed_of(tmp_path, ldapserver(interfaces=[InterfaceSpec("eth0")]), macs={})
    assert seed["network-config"]["ethernets"] == {"eth0": {}}


def test_netmask_gives_the_prefix_length(tmp_path):
    host = ldapserver(interfaces=[InterfaceSpec("eth0", address="192.168.8.9", netmask="255.255.240.0")])
    _, seed = seed_of(tmp_path, host)
    assert seed["network-config"]["ethernets"]["eth0"]["addresses"] == ["192.168.8.9/20"]


def test_bad_address_is_an_error_naming_the_host(tmp_path):
    with pytest.raises(GuestConfigError, match=r"^host ldapserver \(ldaptest.mln:22:1\): eth0: address 'auto'"):
        write_seed("ldaptest", ldapserver(interfaces=[InterfaceSpec("eth0", address="auto")]), {}, tmp_path / "s")


def test_plain_passwords_are_hashed_and_never_reach_the_image(tmp_path):
    host = ldapserver(users={"alice": "correct horse battery"})
    path = write_seed("ldaptest", host, {"eth0": MAC}, tmp_path / "seed.img")
    users = {u["name"]: u for u in read_seed(path)[1]["user-data"]["users"]}
    image = path.read_bytes()
    for name, plain in (("root", "s3cret-root"), ("alice", "correct horse battery")):
        hashed = users[name]["hashed_passwd"]
        assert hashed.startswith("$6$") and users[name]["lock_passwd"] is False
        assert guest_config.openssl_sha512_crypt(plain, hashed.split("$")[2]) == hashed
        assert plain.encode() not in image and plain.encode("utf-16-be") not in image


@pytest.mark.parametrize(
    "hashed",
    [
        "l47/Y.NtB9p7w",  # the article's DES hash
        "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/",
        "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZF4y7ibsG",
        SHA512,
    ],
)
def test_crypt_hashes_are_kept_as_they_are(tmp_path, hashed):
    _, seed = seed_of(tmp_path, ldapserver(root_passwd=hashed, users={}))
    assert seed["user-data"]["users"] == [{"name": "root", "lock_passwd": False, "hashed_passwd": hashed}]


@pytest.mark.parametrize("plain", ["l47/Y.NtB9p7", "l47/Y.NtB9p7w!", "$6$short", "sixteen-chars-ok"])
def test_what_only_looks_like_a_hash_is_hashed(plain):
    assert hash_password(plain).startswith("$6$") and hash_password(plain) != plain


def test_hash_password_matches_glibc_and_openssl():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    hashed = hash_password("pa55word", salt="abcdefgh12345678")
    assert (
        hashed == crypt.crypt("pa55word", hashed) == guest_config.openssl_sha512_crypt("pa55word", "abcdefgh12345678")
    )


def test_same_host_gives_the_same_bytes_and_the_file_is_left_alone(tmp_path):
    first = write_seed("ldaptest", ldapserver(), {"eth0": MAC}, tmp_path / "a.img").read_bytes()
    dest = write_seed("ldaptest", ldapserver(), {"eth0": MAC}, tmp_path / "b.img")
    assert dest.read_bytes() == first
    before = dest.stat().st_mtime_ns, dest.stat().st_ino
    write_seed("ldaptest", ldapserver(), {"eth0": MAC}, dest)
    assert (dest.stat().st_mtime_ns, dest.stat().st_ino) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.img", "b.img"]


def test_a_changed_host_gets_a_new_instance_id(tmp_path):
    _, before = seed_of(tmp_path, ldapserver())
    _, after = seed_of(tmp_path, ldapserver(nameserver="10.0.0.16"))
    assert before["meta-data"]["instance-id"] != after["meta-data"]["instance-id"]


def test_sshkey_installs_the_key_files_content(tmp_path):
    key = tmp_path / "nagios.pub"
    key.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests nagios@monitor\n")
    _, seed = seed_of(tmp_path, ldapserver(plugins={"sshkey": {"nagios": str(key), "kyrre": str(key)}}))
    users = {u["name"]: u for u in seed["user-data"]["users"]}
    assert users["nagios"] == {"name": "nagios", "ssh_authorized_keys": [key.read_text().strip()]}
    assert users["kyrre"]["ssh_authorized_keys"] == [key.read_text().strip()]
    assert users["kyrre"]["hashed_passwd"] == "l47/Y.NtB9p7w"
    assert seed["user-data"]["disable_root"] is False


def test_missing_key_file_is_an_error_naming_the_host(tmp_path):
    host = ldapserver(plugins={"sshkey": {"nagios": "/home/nagios/.ssh/pubkey.outgoing"}})
    with pytest.raises(
        GuestConfigError,
        match=r"^host ldapserver .*sshkey for nagios: no such key file "
        r"/home/nagios/.ssh/pubkey.outgoing",
    ):
        write_seed("ldaptest", host, {}, tmp_path / "seed.img")
    assert not (tmp_path / "seed.img").exists()


def test_key_files_are_looked_up_inside_the_files_folder(tmp_path):
    files = tmp_path / "files"
    (files / "keys").mkdir(parents=True)
    (files / "keys" / "id.pub").write_text("ssh-rsa AAAAB3Nza inside\n")
    _, seed = seed_of(tmp_path, ldapserver(plugins={"sshkey": {"root": "/keys/id.pub"}}), files_root=files)
    assert seed["user-data"]["users"][0]["ssh_authorized_keys"] == ["ssh-rsa AAAAB3Nza inside"]
    with pytest.raises(GuestConfigError, match="outside the files folder"):
        write_seed(
            "ldaptest",
            ldapserver(plugins={"sshkey": {"root": "../../etc/passwd"}}),
            {},
            tmp_path / "seed.img",
            files_root=files,
        )


def test_apache_block_becomes_a_configuration_snippet(tmp_path):
    host = ldapserver(plugins={"apache": {"doc_root": "/var/www", "max_connections": "300"}})
    _, seed = seed_of(tmp_path, host)
    [snippet] = seed["user-data"]["write_files"]
    assert snippet["path"] == "/etc/apache2/conf-enabled/mln-apache.conf"
    assert snippet["encoding"] == "b64" and snippet["permissions"] == "0644"
    text = __import__("base64").b64decode(snippet["content"]).decode()
    assert 'DocumentRoot "/var/www"' in text and "MaxRequestWorkers 300" in text and "ServerLimit 300" in text


def test_apache_with_a_bad_limit_is_an_error(tmp_path):
    host = ldapserver(plugins={"apache": {"max_connections": "many"}})
    with pytest.raises(GuestConfigError, match="max_connections 'many' is not a positive number"):
        write_seed("ldaptest", host, {}, tmp_path / "seed.img")


def test_runcmd_and_awkward_characters_survive_yaml(tmp_path):
    command = 'echo "quoted" \\ back: slash # not a comment\nsecond line'
    _, seed = seed_of(tmp_path, ldapserver(users={"bob": "pa:ss #1 {x}"}), runcmd=[command])
    assert seed["user-data"]["runcmd"] == [command]


def test_blkid_finds_the_label_and_readers_without_joliet_see_three_files(tmp_path):
    """What udev and cloud-init look for: an iso9660 labelled cidata; 8.3 names underneath."""
    path = write_seed("ldaptest", ldapserver(), {}, tmp_path / "seed.img")
    iso = pycdlib.PyCdlib()
    iso.open(str(path))
    names = sorted(c.file_identifier().decode() for c in iso.list_children(iso_path="/"))
    iso.close()
    assert names == [".", "..", "META_DAT.;1", "NETWORK_.;1", "USER_DAT.;1"]
    probe = subprocess.run(["blkid", "-p", "-o", "export", str(path)], capture_output=True, text=True).stdout
    assert "LABEL=cidata" in probe.split() and "TYPE=iso9660" in probe.split()
