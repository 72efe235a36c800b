"""The one module that imports libvirt.

A `Hypervisor` is one connection (`qemu:///system` on a service host,
`test:///default` in tests: its in-memory state lives in the process that
opened it). Every `ensure_*` call is idempotent and says whether it created
something, so a build can undo exactly what it made; every `remove_*` call
accepts an object that is already gone.

Disks are volumes of one libvirt `dir` storage pool per project: the test
driver and qemu:///system then take the same code path, and on the test
driver a thousand overlays cost milliseconds instead of a thousand
`qemu-img` runs. A host with `filepath DIR` has its disk in DIR/<project>,
a volume of the project's pool for that folder (`location pools`, named
`libvirt_xml.location_pool_name`): the project's pool's name stands for
them all, so finding, removing and forgetting the project's storage by it
includes them.

A `dir` pool lists every file of its folder as a volume, whoever wrote it, so
storage is never removed by the pool's listing: only volumes named by the
caller are deleted, only in folders MLN made for the project
(daemon/agent/storage.py), and pools are only ever forgotten (undefined).
"""

import ipaddress
import os
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import libvirt

from daemon.agent import libvirt_xml, storage

# libvirt prints every error to stderr by default; we raise them instead.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)

STATES = {
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "running",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "running",
    libvirt.VIR_DOMAIN_SHUTOFF: "shut off",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "paused",
}
UNDEFINED = "undefined"
# getType() of the drivers whose running domains' XML gives the port of a display that runs.
DISPLAY_DRIVERS = {"QEMU"}


class HypervisorError(Exception):
    """libvirt refused a step; the message is libvirt's own."""


class NoFreeSubnet(HypervisorError):
    """Every subnet of mln.conf's nat_pool is taken on this host."""


@dataclass
class DomainState:
    name: str
    state: str  # running, shut off, paused, crashed, undefined
    memory: int | None = None  # bytes
    vnc_port: int | None = None
    macs: list[str] = field(default_factory=list)


@dataclass
class ProjectObjects:
    """Everything libvirt holds for one project: for idempotence and leak checks."""

    domains: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    pools: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)

    def __bool__(self):
        return bool(self.domains or self.networks or self.pools or self.volumes)


def lookup(find, name):
    """The object, or None when libvirt does not know it."""
    try:
        return find(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in (
            libvirt.VIR_ERR_NO_DOMAIN,
            libvirt.VIR_ERR_NO_NETWORK,
            libvirt.VIR_ERR_NO_STORAGE_POOL,
            libvirt.VIR_ERR_NO_STORAGE_VOL,
        ):
            return None
        raise HypervisorError(exc.get_error_message()) from exc


def xml_of(thing):
    """An object's XML, or None when it vanished since it was listed (another daemon removed it)."""
    try:
        return thing.XMLDesc(0)
    except libvirt.libvirtError:
        return None


def pool_folder(pool):
    """The folder of a `dir` pool, None when the pool vanished since it was listed."""
    xml = xml_of(pool)
    return xml and libvirt_xml.pool_path_of(xml)


def delete_volume(volume):
    """libvirt deletes the volume (and, on qemu:///system, its file); the test driver keeps volumes in
    memory and leaves a file of that name alone, so it goes here too: the same end on both."""
    path = call(volume.path)
    call(volume.delete, 0)
    Path(path).unlink(missing_ok=True)


def stop_and_undefine(found):
    """A network or pool stopped (destroy stops it, deleting nothing) and undefined; False when it was gone."""
    if found is None:
        return False
    if found.isActive():
        call(found.destroy)
    call(found.undefine)
    return True


def call(method, *args):
    try:
        return method(*args)
    except libvirt.libvirtError as exc:
        raise HypervisorError(exc.get_error_message()) from exc


class Hypervisor:
    def __init__(self, uri):
        self.uri = uri
        try:
            self.conn = libvirt.open(uri)
        except libvirt.libvirtError as exc:
            raise HypervisorError(f"cannot connect to {uri}: {exc.get_error_message()}") from exc
        self._capabilities = None

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- what this hypervisor offers ------------------------------------------

    @property
    def driver(self):
        """`QEMU`, `Test`, `Xen`, `ESX`...: which keywords can be honoured as written."""
        return self.conn.getType()

    @property
    def displays_here(self):
        """True when this hypervisor runs its guests' VNC displays on this machine's ports (a local
        qemu): only then can a taken port be found here before a start."""
        return self.driver in DISPLAY_DRIVERS and not urlsplit(self.uri).hostname

    def capabilities(self):
        if self._capabilities is None:
            self._capabilities = ET.fromstring(self.conn.getCapabilities())
        return self._capabilities

    def arch(self):
        return self.capabilities().findtext("host/cpu/arch")

    def domain_types(self):
        """The domain types offered for full-virtualization guests of the host's arch."""
        caps = self.capabilities()
        for guest in caps.findall("guest"):
            if guest.findtext("os_type") == "hvm" and guest.find("arch").get("name") == self.arch():
                return [d.get("type") for d in guest.findall("arch/domain")]
        return []

    def domain_type(self, use_kvm):
        """kvm only when offered and mln.conf says it works here; else TCG (`qemu`)."""
        offered = self.domain_types()
        if use_kvm and "kvm" in offered:
            return "kvm"
        if "qemu" in offered:
            return "qemu"
        if not offered:
            raise HypervisorError(f"{self.uri} offers no hvm guests")
        return offered[0]

    # --- storage ------------------------------------------------------------------

    def ensure_pool(self, name, path):
        pool = lookup(self.conn.storagePoolLookupByName, name)
        created = pool is None
        if created:
            pool = call(self.conn.storagePoolDefineXML, libvirt_xml.pool_xml(name, path), 0)
            call(pool.build, 0)  # makes the folder on qemu:///system; a no-op on the test driver
        if not pool.isActive():
            call(pool.create, 0)
        call(pool.setAutostart, 1)
        return created

    def free_bytes(self, pool_name):
        pool = lookup(self.conn.storagePoolLookupByName, pool_name)
        return call(pool.info)[3] if pool else None

    def ensure_overlay(self, pool_name, volume, capacity, backing_path, backing_format):
        """`volume`: a name in the pool, or the path of a disk elsewhere (`filepath`): then a
        volume of the project's pool for that folder, made (and marked) with its folder when missing."""
        if os.path.isabs(volume):
            folder, volume = os.path.split(volume)
            location = libvirt_xml.location_pool_name(pool_name, folder)
            storage.make(folder, libvirt_xml.project_of_pool(pool_name))
            self.ensure_pool(location, folder)
            pool_name = location
        pool = call(self.conn.storagePoolLookupByName, pool_name)
        if lookup(pool.storageVolLookupByName, volume) is not None:
            return False
        xml = libvirt_xml.overlay_xml(volume, capacity, backing_path, backing_format)
        call(pool.createXML, xml, 0)
        return True

    def location_pools(self, pool_name):
        """The pools of the project's disks in other folders (`filepath`), by name and folder."""
        found = []
        for pool in call(self.conn.listAllStoragePools, 0):
            if not pool.name().startswith(pool_name + "."):
                continue
            folder = pool_folder(pool)
            if folder and libvirt_xml.location_pool_name(pool_name, folder) == pool.name():
                found.append(pool)
        return sorted(found, key=lambda p: p.name())

    def project_pools(self, pool_name):
        """The project's pool (when it exists) and its location pools."""
        pool = lookup(self.conn.storagePoolLookupByName, pool_name)
        return ([pool] if pool is not None else []) + self.location_pools(pool_name)

    def find_volume(self, pool_name, volume):
        """(pool, volume) of a name or a path among the project's pools, None when it is gone."""
        if os.path.isabs(volume):
            folder, volume = os.path.split(volume)
            pool = lookup(self.conn.storagePoolLookupByName, libvirt_xml.location_pool_name(pool_name, folder))
            pools = [pool] if pool is not None else []
        else:
            pools = self.project_pools(pool_name)
        for pool in pools:
            if not pool.isActive():
                call(pool.create, 0)
            found = lookup(pool.storageVolLookupByName, volume)
            if found is not None:
                return pool, found
        return None

    def volume_path(self, pool_name, volume):
        found = self.find_volume(pool_name, volume)
        if found is None:
            raise HypervisorError(f"no storage volume {volume} in pool {pool_name}")
        return call(found[1].path)

    def remove_volume(self, pool_name, volume):
        """Deletes the volume when its folder is one MLN made for the project; a location pool
        left with no other volume is forgotten, and its folder goes when only its marker is left."""
        found = self.find_volume(pool_name, volume)
        if found is None:
            return False
        pool, found = found
        folder, project = pool_folder(pool), libvirt_xml.project_of_pool(pool_name)
        if not storage.marked(folder, project):
            return False
        delete_volume(found)
        if pool.name() != pool_name and not set(call(pool.listVolumes)) - {storage.MARKER}:
            stop_and_undefine(pool)
            storage.remove(folder, project)
        return True

    def remove_pools(self, pool_name, volumes):
        """Deletes the named volumes of each of the project's pools whose folder MLN made for it, then
        forgets every one of those pools; returns their folders for the caller to tidy.

        Never a pool's own delete, nor "every volume of the pool": libvirt lists every file of a `dir`
        pool's folder as a volume, whoever wrote it."""
        project, folders = libvirt_xml.project_of_pool(pool_name), []
        for pool in self.project_pools(pool_name):
            folder = pool_folder(pool)
            if folder and storage.marked(folder, project):
                self._delete_volumes(pool, volumes)
            stop_and_undefine(pool)
            folders.append(folder)
        return folders

    def _delete_volumes(self, pool, names):
        if not pool.isActive():
            call(pool.create, 0)
        call(pool.refresh, 0)
        for name in names:
            found = lookup(pool.storageVolLookupByName, name)
            if found is not None:
                delete_volume(found)

    # --- networks -------------------------------------------------------------------

    def ensure_network(self, network: libvirt_xml.NetworkDefinition):
        found = lookup(self.conn.networkLookupByName, network.name)
        created = found is None
        if created:
            found = call(self.conn.networkDefineXML, libvirt_xml.network_xml(network))
        if not found.isActive():
            call(found.create)
        call(found.setAutostart, 1)
        return created

    def activate_network(self, name):
        found = call(self.conn.networkLookupByName, name)
        if not found.isActive():
            call(found.create)

    def network_exists(self, name):
        return lookup(self.conn.networkLookupByName, name) is not None

    def used_subnets(self):
        """Every IPv4 subnet of a libvirt network on this host, ours or not."""
        subnets = []
        for network in call(self.conn.listAllNetworks, 0):
            xml = xml_of(network)
            found = xml and libvirt_xml.subnet_of(xml)
            if found:
                subnets.append(ipaddress.IPv4Network(f"{found[0]}/{found[1]}", strict=False))
        return subnets

    def free_subnet(self, pool, taken=(), prefix=24):
        """The first /24 of the pool that no network on this host uses, nor `taken`."""
        used = self.used_subnets() + list(taken)
        for subnet in pool.subnets(new_prefix=prefix):
            if not any(subnet.overlaps(other) for other in used):
                return subnet
        raise NoFreeSubnet(f"no free /{prefix} left in nat_pool {pool}")

    def remove_network(self, name):
        """Stops and undefines the network; False when it was gone."""
        return stop_and_undefine(lookup(self.conn.networkLookupByName, name))

    # --- domains ---------------------------------------------------------------------

    def define(self, guest: libvirt_xml.GuestDefinition):
        """Defines (or redefines) the domain; True when it did not exist before."""
        found = lookup(self.conn.lookupByName, guest.name)
        if found is not None:  # a redefinition must name the same UUID
            guest.uuid = found.UUIDString()
        call(self.conn.defineXML, libvirt_xml.domain_xml(guest))
        return found is None

    def disk_path(self, name):
        """The file of a domain's first disk: its overlay, wherever it lives."""
        xml = call(call(self.conn.lookupByName, name).XMLDesc, 0)
        paths = libvirt_xml.disk_paths_of(xml)
        if not paths:
            raise HypervisorError(f"{name} has no disk")
        return paths[0]

    def boots_kernel(self, name):
        """True for a domain booted with the host's kernel (a `pv` template)."""
        xml = call(call(self.conn.lookupByName, name).XMLDesc, 0)
        return ET.fromstring(xml).find("os/kernel") is not None

    def vnc_password(self, name):
        """The password of a defined domain, so a rebuild keeps the one students know."""
        found = lookup(self.conn.lookupByName, name)
        if found is None:
            return None
        return libvirt_xml.vnc_password_of(call(found.XMLDesc, libvirt.VIR_DOMAIN_XML_SECURE))

    def start(self, name):
        """Starts a defined domain; False when it was already running."""
        domain = call(self.conn.lookupByName, name)
        if domain.isActive():
            return False
        call(domain.create)
        return True

    def stop(self, name):
        """Powers the domain off (the article's stop); False when it was not running."""
        domain = lookup(self.conn.lookupByName, name)
        if domain is None or not domain.isActive():
            return False
        call(domain.destroy)
        return True

    def request_shutdown(self, name):
        """Asks the guest to shut down (ACPI power button); False when it was not running."""
        domain = lookup(self.conn.lookupByName, name)
        if domain is None or not domain.isActive():
            return False
        call(domain.shutdown)
        return True

    def wait_until_off(self, name, seconds):
        """True once the domain is off (or gone), False when it still runs after `seconds`."""
        deadline = time.monotonic() + max(0.0, seconds)
        while True:
            domain = lookup(self.conn.lookupByName, name)
            if domain is None or not call(domain.isActive):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))

    def reboot(self, name):
        """Asks a running guest to reboot (ACPI); a guest that is not running is refused."""
        call(self._running(name).reboot, 0)
        return True

    def reset(self, name):
        """Resets a running guest at once, as the reset button does: nothing is shut down."""
        call(self._running(name).reset, 0)
        return True

    def _running(self, name):
        domain = lookup(self.conn.lookupByName, name)
        if domain is None:
            raise HypervisorError(f"{name} is not defined")
        if not domain.isActive():
            raise HypervisorError(f"{name} is not running: start it first")
        return domain

    def undefine(self, name):
        domain = lookup(self.conn.lookupByName, name)
        if domain is None:
            return False
        if domain.isActive():
            call(domain.destroy)
        # Snapshots would keep a domain from going; no NVRAM: our guests boot without UEFI.
        call(
            domain.undefineFlags,
            libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA,
        )
        return True

    # --- state -----------------------------------------------------------------------

    def domain_state(self, name):
        domain = lookup(self.conn.lookupByName, name)
        if domain is None:
            return DomainState(name, UNDEFINED)
        state, max_kib, _mem, _vcpus, _time = call(domain.info)
        xml = call(domain.XMLDesc, 0)
        return DomainState(
            name,
            STATES.get(state, "unknown"),
            max_kib * 1024,
            self._display_port(domain, xml),
            libvirt_xml.macs_of(xml),
        )

    def _display_port(self, domain, xml):
        """The port of the VNC display the hypervisor runs for this domain, else None. The console
        relay connects to it (projects/consumers.py), so it must be a display that exists: a domain
        that is not running has none, and the test driver runs none at all (its XML says back the
        port that was defined, so a course's `vncdisplay` would name any local port). Only drivers
        known to run what their live XML names are believed."""
        if self.driver not in DISPLAY_DRIVERS or not call(domain.isActive):
            return None
        return libvirt_xml.vnc_port_of(xml)

    def project_objects(self, project):
        objects = ProjectObjects()
        for domain in call(self.conn.listAllDomains, 0):
            if self._owner(xml_of(domain)) == project:
                objects.domains.append(domain.name())
        for network in call(self.conn.listAllNetworks, 0):
            if self._owner(xml_of(network)) == project:
                objects.networks.append(network.name())
        for pool in self.project_pools(libvirt_xml.pool_name(project)):
            objects.pools.append(pool.name())
            if pool.isActive():
                objects.volumes += [v for v in call(pool.listVolumes) if v != storage.MARKER]
        objects.volumes.sort()
        objects.domains.sort()
        objects.networks.sort()
        return objects

    def mln_projects(self):
        """Every project MLN made objects for here, found by libvirt alone: domains and networks carrying
        its metadata and named as it names them, and `mln.<project>` pools whose folder it marked for
        that project. For a reconciliation with the database (`mln list`, `mln remove`)."""
        found = set()
        for thing in (*call(self.conn.listAllDomains, 0), *call(self.conn.listAllNetworks, 0)):
            xml = xml_of(thing)
            owner = xml and libvirt_xml.read_metadata(xml)
            if owner and owner[0] and thing.name() == libvirt_xml.object_name(*owner):
                found.add(owner[0])
        for pool in call(self.conn.listAllStoragePools, 0):
            project = libvirt_xml.project_of_pool(pool.name())
            if pool.name() == libvirt_xml.pool_name(project) and storage.marked(pool_folder(pool), project):
                found.add(project)
        return found

    @staticmethod
    def _owner(xml):
        found = xml and libvirt_xml.read_metadata(xml)
        return found and found[0]

    # --- the cluster: facts for the heartbeat, live migration ------------------------

    def host_facts(self, use_kvm):
        """What a daemon's heartbeat tells the scheduler and `mln daemon_status` about this hypervisor."""
        _model, memory_mib, cpus, *_ = call(self.conn.getInfo)
        kvm_offered = "kvm" in self.domain_types()
        return {
            "libvirt_uri": self.uri,
            "hypervisor": self.driver,
            "hostname": call(self.conn.getHostname),
            "kvm_offered": kvm_offered,
            "kvm_used": bool(use_kvm and kvm_offered),
            "cpus": cpus,
            "memory": memory_mib * 1024 * 1024,
            "free_memory": call(self.conn.getFreeMemory),
            "running_domains": call(self.conn.numOfDomains),
        }

    def migrate_live(self, name, peer_uri, shared_storage=None, bandwidth_mib=0):
        """Moves a running domain to the libvirtd at `peer_uri`, peer to peer: this libvirtd
        talks to the other one itself, so the daemon needs no connection of its own to it.

        Only memory moves: the disks must be reachable at the same paths there. libvirt 9
        takes a disk for shared only on a network or cluster filesystem (NFS, GFS2, OCFS2,
        Ceph...) and refuses any other as unsafe; `shared_storage` is mln.conf's san_path,
        the folder every service host reaches as the same storage (a SAN, however mounted).
        Every disk must be under it, and then libvirt's own guess is waived."""
        domain = call(self.conn.lookupByName, name)
        flags = LIVE_MIGRATION_FLAGS
        if shared_storage:
            elsewhere = [
                p
                for p in libvirt_xml.disk_paths_of(call(domain.XMLDesc, 0))
                if not Path(p).is_relative_to(shared_storage)
            ]
            if elsewhere:
                raise HypervisorError(f"{name}: disk {elsewhere[0]} is not under the shared storage {shared_storage}")
            flags |= libvirt.VIR_MIGRATE_UNSAFE
        params = {libvirt.VIR_MIGRATE_PARAM_DEST_NAME: name}
        if bandwidth_mib:
            params[libvirt.VIR_MIGRATE_PARAM_BANDWIDTH] = bandwidth_mib
        call(domain.migrateToURI3, peer_uri, params, flags)

    def forget_pool(self, name):
        """Undefines a pool and leaves its volumes: they are on storage another host uses now."""
        return stop_and_undefine(lookup(self.conn.storagePoolLookupByName, name))


# Peer to peer, live, defined on the target, gone from the source: the article's move of a
# host whose service_host changed, when both hosts reach its disks.
LIVE_MIGRATION_FLAGS = (
    libvirt.VIR_MIGRATE_PEER2PEER
    | libvirt.VIR_MIGRATE_LIVE
    | libvirt.VIR_MIGRATE_PERSIST_DEST
    | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
)
