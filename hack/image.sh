#!/usr/bin/env bash
# image.sh builds the kommerce container image without a Docker daemon.
#
#   hack/image.sh build [out.tar]   build the image, write it as a docker-archive tarball
#                                   (default bin/kommerce-image.tar) tagged
#                                   kommerce.local/kommerce:$VERSION
#   hack/image.sh rootfs <dir>      assemble only the base file system into <dir>
#                                   (the Dockerfile's base stage runs this too)
#   hack/image.sh variant <in.tar> <out.tar> <name:tag> [KEY=VALUE...]
#                                   the same layers with KEY=VALUE added to the image's
#                                   environment, tagged name:tag: test images that
#                                   behave differently (hack/e2e/storefront.sh makes one
#                                   whose API refuses to start) without another build
#
# Three layers, the one that changes least first, so a rebuild after a code change
# only replaces the last:
#   base         glibc, libstdc++, libgcc_s, CA bundle and time zones from the Debian
#                packages of this machine (apt-get download + dpkg-deb -x; no package
#                scripts run), a passwd/group with the non-root user 65532, /tmp 1777
#   onnxruntime  /usr/local/lib/libonnxruntime.so.1 from hack/onnxruntime.sh
#   app          /usr/local/bin/kommerce, built with cgo (onnxruntime is loaded at run time)
#
# The image's configuration (entrypoint, cmd, user, env, ports) is read from the final
# stage of the Dockerfile, and the Dockerfile's COPY destinations are checked against
# the paths used here, so the two cannot drift apart. crane assembles the layers; it
# needs a registry to mutate an image, so one runs on loopback for the build only.
#
# VERSION, COMMIT and DATE (set by the Makefile) go into the binary's version ldflags.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MODULE=github.com/kommerce/kommerce
REPO=kommerce.local/kommerce
BIN_PATH=/usr/local/bin/kommerce
ORT_PATH=/usr/local/lib/libonnxruntime.so.1
UID_GID=65532
PACKAGES=(libc6 libstdc++6 libgcc-s1 gcc-12-base ca-certificates tzdata)
CRANE=${CRANE:-bin/crane}

say() { echo "image: $*" >&2; }
die() { say "error: $*"; exit 1; }

# layer_tar writes the directory $1 as a layer tarball $2 with root ownership, sorted
# names and a fixed mtime, so the same files give the same layer digest.
layer_tar() {
	tar --create --file "$2" --directory "$1" --numeric-owner --owner=0 --group=0 \
		--sort=name --mtime=@0 --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime .
}

# rootfs assembles the base file system into $1 from the Debian packages.
rootfs() {
	local root=$1 debs deb
	mkdir -p "$root"
	debs=$(mktemp -d)
	# apt-get download drops privileges to _apt; a folder it can write avoids a warning.
	chmod 0777 "$debs"
	(cd "$debs" && apt-get download -q=2 "${PACKAGES[@]}") || die "apt-get download ${PACKAGES[*]} failed"
	for deb in "$debs"/*.deb; do
		dpkg-deb -x "$deb" "$root"
	done
	rm -rf "$debs"
	# Documentation, translations, gconv modules, debugger helpers and maintainer
	# tools are never used by a Go binary; they are a third of the size.
	rm -rf "$root"/usr/share/{doc,man,info,lintian,locale,gcc,gdb,bug} \
		"$root"/usr/lib/x86_64-linux-gnu/gconv "$root"/usr/sbin "$root"/usr/bin \
		"$root"/sbin "$root"/etc/ld.so.conf.d
	# ca-certificates' postinst (never run by dpkg-deb -x) builds the bundle; do it here.
	mkdir -p "$root"/etc/ssl/certs
	cat "$root"/usr/share/ca-certificates/mozilla/*.crt >"$root"/etc/ssl/certs/ca-certificates.crt
	rm -rf "$root"/usr/share/ca-certificates "$root"/etc/ca-certificates.conf
	printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nkommerce:x:%s:%s:kommerce:/nonexistent:/usr/sbin/nologin\n' $UID_GID $UID_GID >"$root"/etc/passwd
	printf 'root:x:0:\nkommerce:x:%s:\n' $UID_GID >"$root"/etc/group
	printf 'passwd: files\ngroup: files\nhosts: files dns\nnetworks: files\nservices: files\n' >"$root"/etc/nsswitch.conf
	ln -sf /usr/share/zoneinfo/UTC "$root"/etc/localtime
	mkdir -p "$root"/tmp "$root"/usr/local/bin "$root"/usr/local/lib
	chmod 1777 "$root"/tmp
	chmod 0755 "$root"
}

# dockerfile_final prints the instructions of the Dockerfile's last stage, one per line.
dockerfile_final() {
	awk '/^[[:space:]]*#/ {next} /^FROM / {buf=""} {buf = buf $0 "\n"} END {printf "%s", buf}' Dockerfile
}

# image_config turns the final stage's ENTRYPOINT, CMD, USER, ENV and EXPOSE into crane
# mutate flags (one per line), and checks its COPY destinations.
image_config() {
	local final
	final=$(dockerfile_final)
	grep -q "^COPY --from=build /out/kommerce $BIN_PATH\$" <<<"$final" || die "Dockerfile's final stage does not copy the binary to $BIN_PATH"
	grep -q "^COPY --from=onnxruntime /libonnxruntime.so.1 $ORT_PATH\$" <<<"$final" || die "Dockerfile's final stage does not copy onnxruntime to $ORT_PATH"
	grep -q '^COPY --from=base /rootfs/ /$' <<<"$final" || die "Dockerfile's final stage does not start from the base rootfs"
	python3 - "$final" <<'PY'
import json, sys
for line in sys.argv[1].splitlines():
    word, _, rest = line.partition(" ")
    rest = rest.strip()
    if word in ("ENTRYPOINT", "CMD"):
        print(f"--{word.lower()}=" + ",".join(json.loads(rest)))
    elif word == "USER":
        print("--user=" + rest)
    elif word == "ENV":
        k, _, v = rest.partition("=")
        print(f"--env={k}={v}")
    elif word == "EXPOSE":
        # Docker records a port without a protocol as <port>/tcp.
        print("--exposed-ports=" + ",".join(p if "/" in p else p + "/tcp" for p in rest.split()))
PY
}

build() {
	local out=${1:-bin/kommerce-image.tar}
	local version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
	local commit=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
	local date=${DATE:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}
	local start=$SECONDS
	[[ -x $CRANE ]] || die "$CRANE is missing (make crane)"
	command -v python3 >/dev/null || die "python3 is needed to read the Dockerfile and write the archive's tag"
	local -a mutate
	mapfile -t mutate < <(image_config)
	((${#mutate[@]})) || die "no image configuration found in the Dockerfile's final stage"

	# work is global: the EXIT trap removes it after build returns.
	work=$(mktemp -d)
	trap 'stop_registry; rm -rf "$work"' EXIT

	say "base layer from Debian packages: ${PACKAGES[*]}"
	rootfs "$work/base"
	layer_tar "$work/base" "$work/base.tar"

	say "onnxruntime layer"
	local ort
	ort=$(hack/onnxruntime.sh | tail -1)
	mkdir -p "$work/ort$(dirname $ORT_PATH)"
	install -m 0755 "$ort" "$work/ort$ORT_PATH"
	layer_tar "$work/ort" "$work/ort.tar"

	say "app layer: go build (cgo) $version $commit"
	mkdir -p "$work/app$(dirname $BIN_PATH)"
	CGO_ENABLED=1 go build -trimpath \
		-ldflags "-s -w -X $MODULE/internal/version.Version=$version -X $MODULE/internal/version.Commit=$commit -X $MODULE/internal/version.Date=$date" \
		-o "$work/app$BIN_PATH" ./cmd/kommerce
	layer_tar "$work/app" "$work/app.tar"

	say "checking the file system as user $UID_GID"
	mkdir -p "$work/check"
	cp -a "$work/base/." "$work/ort/." "$work/app/." "$work/check/"
	local got
	got=$(chroot --userspec=$UID_GID:$UID_GID "$work/check" $BIN_PATH version) || die "$BIN_PATH version failed inside the image's file system"
	grep -q "$commit" <<<"$got" || die "kommerce version in the image does not name commit $commit: $got"
	if chroot "$work/check" /lib64/ld-linux-x86-64.so.2 --list $ORT_PATH | grep 'not found'; then
		die "libonnxruntime.so.1 misses libraries in the image"
	fi

	start_registry
	local ref=127.0.0.1:$port/kommerce:$version
	say "assembling $REPO:$version with crane"
	"$CRANE" append --insecure --platform linux/amd64 --oci-empty-base \
		-f "$work/base.tar" -f "$work/ort.tar" -f "$work/app.tar" -t "$ref" >/dev/null 2>"$work/crane.log" ||
		{ cat "$work/crane.log" >&2; die "crane append failed"; }
	"$CRANE" mutate --insecure "$ref" "${mutate[@]}" --set-platform linux/amd64 -t "$ref" >/dev/null 2>"$work/crane.log" ||
		{ cat "$work/crane.log" >&2; die "crane mutate failed"; }
	"$CRANE" pull --insecure --format tarball "$ref" "$work/image.tar" 2>"$work/crane.log" ||
		{ cat "$work/crane.log" >&2; die "crane pull failed"; }
	"$CRANE" config --insecure "$ref" >"$work/config.json"
	stop_registry

	# The archive names the loopback registry; name it as the cluster will know it.
	retag "$work/image.tar" "$REPO:$version"
	mkdir -p "$(dirname "$out")"
	mv "$work/image.tar" "$out"
	cp "$work/config.json" "${out%.tar}.config.json"
	echo "$REPO:$version" >"${out%.tar}.ref"
	say "wrote $out ($REPO:$version): $(du -m "$out" | cut -f1) MiB compressed layers, $(du -sm "$work/check" | cut -f1) MiB unpacked (base $(du -sm "$work/base" | cut -f1), onnxruntime $(du -sm "$work/ort" | cut -f1), app $(du -sm "$work/app" | cut -f1)) in $((SECONDS - start))s"
}

# variant writes <out> with the layers of <in> and its config's environment extended
# by the KEY=VALUE arguments, tagged <name:tag>.
variant() {
	local in=$1 out=$2 tag=$3
	shift 3
	[[ -x $CRANE ]] || die "$CRANE is missing (make crane)"
	[[ -f $in ]] || die "no such image archive: $in"
	local -a env=() kv
	for kv in "$@"; do
		[[ $kv == [A-Z_]*=* ]] || die "variant: $kv is not KEY=VALUE"
		env+=(--env "$kv")
	done
	work=$(mktemp -d)
	trap 'stop_registry; rm -rf "$work"' EXIT
	start_registry
	local ref=127.0.0.1:$port/kommerce:variant
	{
		"$CRANE" push --insecure "$in" "$ref" &&
			"$CRANE" mutate --insecure "$ref" "${env[@]}" -t "$ref" &&
			"$CRANE" pull --insecure --format tarball "$ref" "$work/image.tar"
	} >"$work/crane.log" 2>&1 || { cat "$work/crane.log" >&2; die "crane could not make the variant $tag"; }
	stop_registry
	retag "$work/image.tar" "$tag"
	mkdir -p "$(dirname "$out")"
	mv "$work/image.tar" "$out"
	say "wrote $out ($tag): $in with ${*:-no change}"
}

start_registry() {
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	"$CRANE" registry serve --address "127.0.0.1:$port" >"$work/registry.log" 2>&1 &
	registry_pid=$!
	local i
	for i in $(seq 1 100); do
		curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && return 0
		kill -0 "$registry_pid" 2>/dev/null || { cat "$work/registry.log" >&2; die "crane registry serve on 127.0.0.1:$port exited"; }
		sleep 0.1
	done
	die "crane registry on 127.0.0.1:$port did not answer in 10 s"
}

stop_registry() {
	[[ -n ${registry_pid:-} ]] || return 0
	kill "$registry_pid" 2>/dev/null || true
	wait "$registry_pid" 2>/dev/null || true
	registry_pid=
}

# retag rewrites the RepoTags of the docker-archive $1 to $2.
retag() {
	python3 - "$1" "$2" <<'PY'
import json, sys, tarfile, os
path, tag = sys.argv[1], sys.argv[2]
tmp = path + ".retag"
with tarfile.open(path) as src, tarfile.open(tmp, "w") as dst:
    for m in src.getmembers():
        f = src.extractfile(m) if m.isfile() else None
        if m.name == "manifest.json":
            manifest = json.load(f)
            for entry in manifest:
                entry["RepoTags"] = [tag]
            data = json.dumps(manifest, separators=(",", ":")).encode()
            m.size = len(data)
            import io
            f = io.BytesIO(data)
        dst.addfile(m, f)
os.replace(tmp, path)
PY
}

case ${1:-} in
build) build "${2:-}" ;;
rootfs)
	[[ -n ${2:-} ]] || die "usage: hack/image.sh rootfs <dir>"
	rootfs "$2"
	;;
variant)
	[[ $# -ge 4 ]] || die "usage: hack/image.sh variant <in.tar> <out.tar> <name:tag> [KEY=VALUE...]"
	shift
	variant "$@"
	;;
*) echo "usage: hack/image.sh build [out.tar] | rootfs <dir> | variant <in.tar> <out.tar> <name:tag> [KEY=VALUE...]" >&2; exit 2 ;;
esac
