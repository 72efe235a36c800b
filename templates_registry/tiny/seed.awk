# Reads a cloud-init NoCloud seed as MLN writes it (daemon/guestconfig.py:
# one fixed YAML layout, every scalar a JSON-style double-quoted string) and
# leaves plain files under OUT for rcS:
#   hostname, instance-id, users (name|hash), keys/NAME, files
#   (permissions|base64|path), runcmd/N, net (name|mac|mode|address|gateway),
#   nameservers.
# Fields are split on "|", not a tab: the shell's read merges runs of blank
# separators, and fields may be empty.
# Usage: awk -v OUT=/run/mln -f seed.awk meta-data user-data network-config

function hexval(h,   i, n) {
    n = 0
    for (i = 1; i <= length(h); i++)
        n = n * 16 + index("0123456789abcdef", tolower(substr(h, i, 1))) - 1
    return n
}

# The first double-quoted string of s, unescaped; what follows it is left in REST.
function unquote(s,   out, i, c) {
    s = substr(s, index(s, "\"") + 1)
    out = ""
    for (i = 1; i <= length(s); i++) {
        c = substr(s, i, 1)
        if (c == "\"") break
        if (c == "\\") {
            c = substr(s, ++i, 1)
            if (c == "n") c = "\n"
            else if (c == "t") c = "\t"
            else if (c == "r") c = "\r"
            else if (c == "b") c = "\b"
            else if (c == "f") c = "\f"
            else if (c == "u") { c = sprintf("%c", hexval(substr(s, i + 1, 4))); i += 4 }
        }
        out = out c
    }
    REST = substr(s, i + 1)
    return out
}

FNR == 1 { file = FILENAME; sub(/.*\//, "", file); section = "" }

file == "meta-data" && /^instance-id: / { print unquote($0) > (OUT "/instance-id") }
file == "meta-data" && /^local-hostname: / { print unquote($0) > (OUT "/hostname") }

file == "user-data" && /^[a-z_]+:/ { section = $1; sub(/:$/, "", section) }
file == "user-data" && section == "users" {
    if (/^  - name: /) { user = unquote($0); nusers++; users[nusers] = user; hash[user] = "" }
    else if (/^    hashed_passwd: /) hash[user] = unquote($0)
    else if (/^      - /) print unquote($0) >> (OUT "/keys/" user)
}
file == "user-data" && section == "write_files" {
    if (/^  - path: /) { path = unquote($0); perm = "0644" }
    else if (/^    permissions: /) perm = unquote($0)
    else if (/^    content: /) printf "%s|%s|%s\n", perm, unquote($0), path >> (OUT "/files")
}
file == "user-data" && section == "runcmd" && /^  - / {
    ncmd++
    printf "%s\n", unquote($0) > (OUT "/runcmd/" sprintf("%03d", ncmd))
    close(OUT "/runcmd/" sprintf("%03d", ncmd))
}

file == "network-config" && /^  "[^"]*":( \{\})?$/ {
    nic = unquote($0); nnics++; nics[nnics] = nic; mode[nic] = "none"
}
file == "network-config" && nic != "" {
    if (/^      macaddress: /) mac[nic] = unquote($0)
    else if (/^    dhcp4: true/) mode[nic] = "dhcp"
    else if (/^    addresses: /) { address[nic] = unquote($0); mode[nic] = "static" }
    else if (/^    routes: /) { line = $0; sub(/.*via: /, "", line); gateway[nic] = unquote(line) }
    else if (/^    nameservers: /) {
        REST = $0
        while (index(REST, "\"")) {
            server = unquote(REST)
            if (!(server in seen)) { seen[server] = 1; print server > (OUT "/nameservers") }
        }
    }
}

END {
    for (i = 1; i <= nusers; i++) printf "%s|%s\n", users[i], hash[users[i]] > (OUT "/users")
    for (i = 1; i <= nnics; i++) {
        nic = nics[i]
        printf "%s|%s|%s|%s|%s\n", nic, mac[nic], mode[nic], address[nic], gateway[nic] > (OUT "/net")
    }
}
