#!/usr/bin/env bash
# cluster.sh runs a real single-node Kubernetes cluster on this machine, as local
# processes: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd with
# runc, the kubelet, kube-proxy, kube-router's network-policy controller and CoreDNS.
# Pods are real containers; Services, cluster DNS and NetworkPolicy work as in any cluster.
#
#   hack/cluster.sh up                    build (first time only), start, wait for the node
#                                         and CoreDNS to be Ready, print how to reach it
#   hack/cluster.sh down                  stop and remove everything up created
#   hack/cluster.sh status                every component (pid, healthy or not) and the node
#   hack/cluster.sh env                   export lines: KUBECONFIG, and PATH with kubectl
#   hack/cluster.sh load <tar> [name:tag] import an image tarball for pods (they need
#                                         imagePullPolicy Never or IfNotPresent), tag it
#
# Needs root. Parts: kube-apiserver, etcd and kubectl from hack/envtest.sh; the kubelet,
# kube-proxy, kube-controller-manager and kube-scheduler from the same k8s.io/kubernetes
# module (hack/tools/k8s); CoreDNS, crane, crictl and kube-router from their Go modules;
# containerd, runc, the CNI plugins, iptables, conntrack, ipset and socat from Debian. The
# builds are cached under $KOMMERCE_CACHE_DIR (~/.cache/kommerce/cluster): ~10 minutes the
# first time, nothing after. There is no image registry: the pause, CoreDNS and probe
# images are built here with crane and imported into containerd; so must yours (`load`).
#
# Network: pods get 10.244.0.0/24 on the bridge kommerce0 (10.244.0.1), Services
# 10.96.0.0/16, cluster DNS 10.96.0.10 (cluster.local only: CoreDNS forwards nothing). Pod
# traffic never leaves the machine: a mangle-table rule drops every packet the host would
# forward from the bridge to another interface. The host services of hack/services.sh are
# Services in namespace kommerce-system (postgres:5432, redis:6379, kafka:9092,
# elasticsearch:9200), each an EndpointSlice at 10.244.0.1 where socat forwards to the
# service on 127.0.0.1. Kafka advertises 127.0.0.1, so a Kafka client in a pod gets past
# its bootstrap connection but not further.
#
# `down` leaves nothing behind: processes, mounts, the bridge, iptables chains and ipsets,
# cgroups, the paths the kubelet and containerd hard-code, and the host sysctls the kubelet
# changes (restored as soon as the node is Ready). Components' logs of the last cluster are
# kept in ~/.cache/kommerce/cluster/logs. hack/cluster_test.sh proves all of this.
set -euo pipefail

HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HACK")
CACHE=${KOMMERCE_CACHE_DIR:-$HOME/.cache/kommerce}
BUILD=$CACHE/cluster
STATE=${KOMMERCE_CLUSTER_DIR:-/var/lib/kommerce-cluster}
PKI=$STATE/pki
CONF=$STATE/etc/kubernetes
LOGS=$STATE/log
PIDS=$STATE/run/pids
HOST=$STATE/host # what the host looked like before up, for down to restore
SOCK=$STATE/run/containerd/containerd.sock
ADMIN_KUBECONFIG=$CONF/admin.kubeconfig

NODE=kommerce
BRIDGE=kommerce0
BRIDGE_IP=10.244.0.1
CLUSTER_CIDR=10.244.0.0/16
NODE_POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
API_VIP=10.96.0.1
DNS_IP=10.96.0.10

ETCD_PORT=12379
ETCD_PEER_PORT=12380
API_PORT=16443
KCM_PORT=10257
SCHEDULER_PORT=10259
KUBELET_PORT=10250
KUBELET_HEALTHZ_PORT=10248
PROXY_HEALTHZ_PORT=10256
PROXY_METRICS_PORT=10249
ROUTER_HEALTH_PORT=20244
REGISTRY_PORT=15000 # crane's registry, only while images are built

# The host services pods can reach: <Service name> <Service port> <port on the host>.
HOST_SERVICES=(
	"postgres 5432 ${KOMMERCE_PG_PORT:-55432}"
	"redis 6379 ${KOMMERCE_REDIS_PORT:-56379}"
	"kafka 9092 $((${KOMMERCE_KAFKA_PORT:-59092} + 2))" # the broker's CLUSTER listener (hack/services.sh)
	"elasticsearch 9200 ${KOMMERCE_ES_PORT:-59200}"
)

# Components in start order; down stops them in reverse.
COMPONENTS=(containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kube-router)

# Sysctls the kubelet (and, if misconfigured, kube-proxy) change host-wide.
HOST_SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
	kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward
	net.ipv4.conf.all.route_localnet net.bridge.bridge-nf-call-iptables
	net.bridge.bridge-nf-call-ip6tables net.netfilter.nf_conntrack_max)

# Paths outside $STATE that the components hard-code.
HARDCODED_PATHS=(/var/lib/kubelet /var/log/containers /run/containerd /var/lib/cni)

modversion() { sed -nE "s#^(require)?[[:space:]]*$2 (v[^ ]+).*#\\2#p" "$1" | head -1; }
K8S_VERSION=$(modversion "$HACK/tools/k8s/go.mod" k8s.io/kubernetes)
COREDNS_VERSION=$(modversion "$HACK/tools/coredns/go.mod" github.com/coredns/coredns)
CRANE_VERSION=v0.22.1
CRICTL_VERSION=v1.37.0
# The only version the Go module proxy serves (it refuses v2.2.0 and later), though flaws
# are reported for it: move on when a newer one is served. Only its network-policy
# controller runs here.
KUBE_ROUTER_VERSION=v2.1.0

K8S_BIN=$BUILD/k8s-$K8S_VERSION
# "-min": only the Corefile's plugins (hack/tools/coredns), not upstream's full build.
COREDNS=$BUILD/coredns-$COREDNS_VERSION-min/coredns
CRANE=$BUILD/crane-$CRANE_VERSION/crane
CRICTL=$BUILD/crictl-$CRICTL_VERSION/crictl
KUBE_ROUTER=$BUILD/kube-router-$KUBE_ROUTER_VERSION/kube-router
IMAGES=$BUILD/images

PAUSE_IMAGE=kommerce.local/pause:1
COREDNS_IMAGE=kommerce.local/coredns:${COREDNS_VERSION#v}
PROBE_IMAGE=kommerce.local/probe:1

say() { echo "cluster: $*" >&2; }
die() {
	say "error: $*"
	exit 1
}

need_root() { [[ $EUID -eq 0 ]] || die "the cluster needs root (network set-up, mounts, cgroups); run as root"; }

alive() { [[ -f $PIDS/$1.pid ]] && kill -0 "$(cat "$PIDS/$1.pid")" 2>/dev/null; }

kc() { "$(tool kubectl)" --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }

# tool prints the path of a built binary recorded by up (kubectl, kube-apiserver, etcd
# come from hack/envtest.sh's folder).
tool() {
	case $1 in
	kubectl | kube-apiserver | etcd) echo "$(cat "$STATE/run/envtest-dir" 2>/dev/null)/$1" ;;
	*) echo "$K8S_BIN/$1" ;;
	esac
}

# ---------------------------------------------------------------- building

apt_install() { # apt_install <package...>
	say "installing Debian packages: $*"
	export DEBIAN_FRONTEND=noninteractive
	if [[ ! -f $CACHE/.apt-updated ]] || [[ -n $(find "$CACHE/.apt-updated" -mmin +720 2>/dev/null) ]]; then
		apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 || die "apt-get update failed"
		mkdir -p "$CACHE" && touch "$CACHE/.apt-updated"
	fi
	apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@" >"$CACHE/apt-install.log" 2>&1 || {
		tail -n 20 "$CACHE/apt-install.log" >&2
		die "apt-get install $* failed"
	}
}

# ensure_packages installs the Debian packages that are missing and checks that every
# command the script and the components run is there, so that a missing binary is named
# here rather than showing up as some component's failure.
ensure_packages() {
	local -A pkg_of=([containerd]=containerd [ctr]=containerd [containerd-shim-runc-v2]=containerd
		[runc]=runc [iptables]=iptables [ip6tables]=iptables [iptables-save]=iptables
		[iptables-restore]=iptables [conntrack]=conntrack [socat]=socat [ipset]=ipset
		[nft]=nftables [openssl]=openssl [curl]=curl [ip]=iproute2 [ss]=iproute2
		[sysctl]=procps [pgrep]=procps [fuser]=psmisc [setsid]=util-linux [flock]=util-linux
		[umount]=mount)
	local cmd pkg missing=()
	for cmd in "${!pkg_of[@]}"; do
		command -v "$cmd" >/dev/null && continue
		pkg=${pkg_of[$cmd]}
		# Installed but not found: installing again would not help.
		[[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) == "install ok installed" ]] &&
			die "binary $cmd is missing: Debian package $pkg is installed, but $cmd is not on PATH ($PATH)"
		missing+=("$pkg")
	done
	[[ -x /usr/lib/cni/bridge ]] || missing+=(containernetworking-plugins)
	if ((${#missing[@]})); then
		apt_install $(printf '%s\n' "${missing[@]}" | sort -u)
	fi
	for cmd in "${!pkg_of[@]}"; do
		command -v "$cmd" >/dev/null || die "binary $cmd is missing after installing Debian package ${pkg_of[$cmd]}"
	done
	local plugin
	for plugin in bridge host-local loopback portmap; do
		[[ -x /usr/lib/cni/$plugin ]] || die "binary /usr/lib/cni/$plugin is missing (Debian package containernetworking-plugins)"
	done
}

# go_build <output> <go build args...>: builds once, into a temporary name first so that an
# interrupted build is never taken for a finished one.
go_build() {
	local out=$1
	shift
	[[ -x $out ]] && return 0
	say "building $(basename "$out")"
	local start=$SECONDS
	mkdir -p "$(dirname "$out")"
	CGO_ENABLED=0 go build -trimpath -o "$out.tmp" "$@" || die "building $(basename "$out") failed"
	mv "$out.tmp" "$out"
	say "built $(basename "$out") in $((SECONDS - start))s"
}

# go_install <output> <package@version>: go install into the binary's own cached folder.
go_install() {
	local out=$1 pkg=$2
	[[ -x $out ]] && return 0
	say "building $(basename "$out") ($pkg) - first time only"
	local start=$SECONDS dir
	dir=$(dirname "$out")
	mkdir -p "$dir.tmp"
	(cd / && GOBIN=$dir.tmp CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "$pkg") ||
		die "building $(basename "$out") ($pkg) failed"
	mkdir -p "$dir" && mv "$dir.tmp/$(basename "$out")" "$out" && rm -rf "$dir.tmp"
	say "built $(basename "$out") in $((SECONDS - start))s"
}

ensure_binaries() {
	command -v go >/dev/null || die "binary go is missing: the cluster's components are built from their Go modules"
	# envtest.sh writes its binaries under fixed names; two builds at once would clobber
	# each other's files, so wait for one that another script started.
	local waited=0
	while pgrep -f '/envtest\.sh' >/dev/null; do
		((waited % 60 == 0)) && say "waiting for another hack/envtest.sh to finish building"
		((waited >= 2400)) && die "another hack/envtest.sh is still running after 40 minutes"
		sleep 5
		waited=$((waited + 5))
	done
	local envtest_dir
	envtest_dir=$("$HACK/envtest.sh") || die "hack/envtest.sh could not build kube-apiserver, etcd and kubectl"

	local minor=${K8S_VERSION#v1.}
	minor=${minor%%.*}
	local vflags="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
	vflags="$vflags -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
	local c
	for c in kubelet kube-controller-manager kube-scheduler kube-proxy; do
		(cd "$HACK/tools/k8s" && go_build "$K8S_BIN/$c" -ldflags "-s -w $vflags" "k8s.io/kubernetes/cmd/$c")
	done
	# CoreDNS with only the Corefile's plugins (hack/tools/coredns pins the version).
	(cd "$HACK/tools/coredns" && go_build "$COREDNS" -ldflags "-s -w" .)
	go_install "$CRANE" "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION"
	go_install "$CRICTL" "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
	go_install "$KUBE_ROUTER" "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$KUBE_ROUTER_VERSION"
	for c in kube-apiserver etcd kubectl; do
		[[ -x $envtest_dir/$c ]] || die "binary $envtest_dir/$c is missing after hack/envtest.sh"
	done
	for c in "$K8S_BIN"/{kubelet,kube-controller-manager,kube-scheduler,kube-proxy} "$COREDNS" "$CRANE" "$CRICTL" "$KUBE_ROUTER"; do
		[[ -x $c ]] || die "binary $c is missing"
	done
	ENVTEST_DIR=$envtest_dir
}

# image_key names an image's cached tarball after what goes into it, so that a changed
# source or Go version builds it again.
image_key() { cat "$@" <(go version) | sha256sum | cut -c1-12; }

# build_image <tar> <name> <entrypoint> <user> <binary>: a one-layer image holding just the
# static binary, made with crane against its own short-lived registry.
build_image() {
	local tar=$1 name=$2 entry=$3 user=$4 binary=$5
	[[ -f $tar ]] && return 0
	local work
	work=$(mktemp -d)
	install -D -m 0755 "$binary" "$work/root$entry"
	tar --numeric-owner --owner=0 --group=0 --mtime=@0 -C "$work/root" -cf "$work/layer.tar" .
	local ref=127.0.0.1:$REGISTRY_PORT/$name:build
	{
		"$CRANE" append --insecure --platform linux/amd64 --oci-empty-base -f "$work/layer.tar" -t "$ref" &&
			"$CRANE" mutate --insecure "$ref" --entrypoint "$entry" --user "$user" --set-platform linux/amd64 -t "$ref" &&
			"$CRANE" pull --insecure --format tarball "$ref" "$work/image.tar"
	} >"$work/crane.log" 2>&1 || {
		tail -n 20 "$work/crane.log" >&2
		die "crane could not build the $name image"
	}
	mkdir -p "$IMAGES"
	mv "$work/image.tar" "$tar"
	rm -rf "$work"
	say "built image $name ($(du -h "$tar" | cut -f1))"
}

ensure_images() {
	local go_sum=$ROOT/go.sum
	PAUSE_TAR=$IMAGES/pause-$(image_key "$HACK/cluster/pause/main.go").tar
	PROBE_TAR=$IMAGES/probe-$(image_key "$HACK/cluster/probe/main.go" "$go_sum").tar
	COREDNS_TAR=$IMAGES/coredns-$COREDNS_VERSION-min.tar
	[[ -f $PAUSE_TAR && -f $PROBE_TAR && -f $COREDNS_TAR ]] && return 0

	port_free "$REGISTRY_PORT" || die "port $REGISTRY_PORT (crane's registry for building images) is taken by $(port_owner "$REGISTRY_PORT")"
	"$CRANE" registry serve --address "127.0.0.1:$REGISTRY_PORT" >"$BUILD/registry.log" 2>&1 9>&- &
	local registry=$!
	# shellcheck disable=SC2064 # the pid is meant to be expanded now
	trap "kill $registry 2>/dev/null" EXIT
	local i
	for i in $(seq 1 50); do
		curl -fsS "http://127.0.0.1:$REGISTRY_PORT/v2/" >/dev/null 2>&1 && break
		kill -0 "$registry" 2>/dev/null || die "crane registry exited: $(tail -n 5 "$BUILD/registry.log")"
		sleep 0.2
	done
	local bin
	bin=$(mktemp -d)
	(cd "$ROOT" && go_build "$bin/pause" -ldflags "-s -w" ./hack/cluster/pause)
	(cd "$ROOT" && go_build "$bin/probe" -ldflags "-s -w" ./hack/cluster/probe)
	build_image "$PAUSE_TAR" pause /pause 65535 "$bin/pause"
	build_image "$PROBE_TAR" probe /probe 65532 "$bin/probe"
	build_image "$COREDNS_TAR" coredns /coredns 65532 "$COREDNS"
	rm -rf "$bin"
	kill "$registry" 2>/dev/null
	trap - EXIT
}

# ---------------------------------------------------------------- checks before starting

port_free() { [[ -z $(ss -Hltn "sport = :$1") ]]; }

port_owner() {
	local who
	who=$(ss -Hltnp "sport = :$1" | grep -o 'users:(("[^"]*",pid=[0-9]*' | head -1 | sed -E 's/users:\(\("([^"]*)",pid=([0-9]*)/\1 (pid \2)/')
	echo "${who:-another process}"
}

check_free() {
	local entry name port
	for entry in etcd:$ETCD_PORT etcd:$ETCD_PEER_PORT kube-apiserver:$API_PORT kube-controller-manager:$KCM_PORT \
		kube-scheduler:$SCHEDULER_PORT kubelet:$KUBELET_PORT kubelet:$KUBELET_HEALTHZ_PORT \
		kube-proxy:$PROXY_HEALTHZ_PORT kube-proxy:$PROXY_METRICS_PORT kube-router:$ROUTER_HEALTH_PORT; do
		name=${entry%%:*} port=${entry#*:}
		port_free "$port" || die "port $port (needed by $name) is taken by $(port_owner "$port"); stop it and run up again"
	done
	local svc
	for svc in "${HOST_SERVICES[@]}"; do
		read -r name _ port <<<"$svc"
		# The forwarder binds the bridge address; only a listener on all addresses is in its way.
		if ss -Hltn "sport = :$port" | awk '{print $4}' | grep -qE '^(0\.0\.0\.0|\*|\[::\]|10\.244\.0\.1):'; then
			die "port $port (the $name forwarder on $BRIDGE_IP) is taken by $(port_owner "$port")"
		fi
	done
	ip link show "$BRIDGE" >/dev/null 2>&1 && die "a network interface named $BRIDGE already exists"
	local route
	for route in "$CLUSTER_CIDR" "$SERVICE_CIDR"; do
		if [[ -n $(ip -4 route show to match "${route%/*}" | grep -v '^default') ]]; then
			die "$route overlaps a route this machine already has: $(ip -4 route show to match "${route%/*}" | grep -v '^default' | head -1)"
		fi
	done
}

node_ip() {
	local dev ip
	dev=$(ip route show default | awk '{print $5; exit}')
	[[ -n $dev ]] || die "no default route: cannot tell this machine's own address (set KOMMERCE_CLUSTER_NODE_IP)"
	ip=$(ip -4 -o addr show dev "$dev" | awk '{print $4; exit}')
	echo "${ip%/*}"
}

# ---------------------------------------------------------------- host state

# record_host saves what down must restore or remove: sysctl values, which hard-coded
# paths and netfilter tables existed before.
record_host() {
	mkdir -p "$HOST"
	local key
	: >"$HOST/sysctl.conf"
	for key in "${HOST_SYSCTLS[@]}"; do
		[[ -e /proc/sys/${key//.//} ]] && echo "$key = $(sysctl -n "$key")" >>"$HOST/sysctl.conf"
	done
	local p
	: >"$HOST/paths"
	for p in "${HARDCODED_PATHS[@]}"; do
		[[ -e $p ]] && echo "$p" >>"$HOST/paths"
	done
	nft list tables >"$HOST/nft-tables" 2>/dev/null || true
}

# restore_sysctls puts back what the kubelet changed; it applies its values each time it
# starts, so this runs after every kubelet start and again at down.
restore_sysctls() {
	[[ -f $HOST/sysctl.conf ]] || return 0
	local key _ value now
	while read -r key _ value; do
		now=$(sysctl -n "$key" 2>/dev/null) || continue
		if [[ $now != "$value" ]]; then
			sysctl -q -w "$key=$value" || say "could not restore $key to $value"
			say "restored $key = $value (was set to $now)"
		fi
	done <"$HOST/sysctl.conf"
}

network_up() {
	ip link add "$BRIDGE" type bridge
	ip addr add "$BRIDGE_IP/24" dev "$BRIDGE"
	ip link set "$BRIDGE" up
	# VIP traffic that kube-proxy did not DNAT goes back into the bridge, never to eth0.
	ip route replace "$SERVICE_CIDR" dev "$BRIDGE" src "$BRIDGE_IP"
	# Pod -> ClusterIP -> pod needs forwarding; only on the bridge, ip_forward stays as it is.
	sysctl -q -w "net.ipv4.conf.$BRIDGE.forwarding=1"
	# mangle FORWARD runs before every filter chain, where kube-router ACCEPTs pod traffic
	# that its policies allow; so nothing can let a packet past this rule.
	iptables -t mangle -A FORWARD -i "$BRIDGE" ! -o "$BRIDGE" \
		-m comment --comment "kommerce: pod traffic never leaves the host" -j DROP
}

# ---------------------------------------------------------------- PKI and configuration

# write_file <path>: stdin to path, only if different; kube-proxy exits when its config
# file is rewritten, even with the same content.
write_file() {
	local tmp
	tmp=$(mktemp)
	cat >"$tmp"
	if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mkdir -p "$(dirname "$1")" && mv "$tmp" "$1"; fi
}

# leaf <name> <subject> <extendedKeyUsage> [subjectAltName]: an ECDSA key and a
# certificate signed by the cluster CA.
leaf() {
	local name=$1 subject=$2 usage=$3 sans=${4:-}
	openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key" 2>/dev/null
	openssl req -new -key "$PKI/$name.key" -subj "$subject" -out "$PKI/$name.csr" 2>/dev/null
	{
		echo "basicConstraints = critical, CA:FALSE"
		echo "keyUsage = critical, digitalSignature, keyEncipherment"
		echo "extendedKeyUsage = $usage"
		[[ -n $sans ]] && echo "subjectAltName = $sans"
	} >"$PKI/$name.ext"
	openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
		-days 365 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
	rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

make_pki() {
	[[ -f $PKI/.complete ]] && return 0
	mkdir -p "$PKI" && chmod 700 "$PKI"
	openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key" 2>/dev/null
	openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=kommerce-cluster-ca" -days 3650 \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
		-out "$PKI/ca.crt" 2>/dev/null
	leaf apiserver "/CN=kube-apiserver" serverAuth \
		"DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$NODE_IP,IP:$API_VIP"
	leaf apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
	leaf front-proxy-client "/CN=front-proxy-client" clientAuth
	leaf admin "/O=system:masters/CN=kubernetes-admin" clientAuth
	leaf controller-manager "/CN=system:kube-controller-manager" clientAuth
	leaf scheduler "/CN=system:kube-scheduler" clientAuth
	leaf kube-proxy "/CN=system:kube-proxy" clientAuth
	leaf kube-router "/CN=system:kube-router" clientAuth
	leaf kubelet "/O=system:nodes/CN=system:node:$NODE" clientAuth
	leaf kubelet-serving "/O=system:nodes/CN=system:node:$NODE" serverAuth "DNS:$NODE,IP:$NODE_IP"
	openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
	openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
	touch "$PKI/.complete"
}

kubeconfig() { # kubeconfig <file> <pki name>
	write_file "$CONF/$1" <<-EOF
		apiVersion: v1
		kind: Config
		clusters:
		- name: kommerce
		  cluster:
		    server: https://127.0.0.1:$API_PORT
		    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
		users:
		- name: $2
		  user:
		    client-certificate-data: $(base64 -w0 "$PKI/$2.crt")
		    client-key-data: $(base64 -w0 "$PKI/$2.key")
		contexts:
		- name: kommerce
		  context: {cluster: kommerce, user: $2}
		current-context: kommerce
	EOF
}

write_configs() {
	kubeconfig admin.kubeconfig admin
	kubeconfig controller-manager.kubeconfig controller-manager
	kubeconfig scheduler.kubeconfig scheduler
	kubeconfig kube-proxy.kubeconfig kube-proxy
	kubeconfig kube-router.kubeconfig kube-router
	kubeconfig kubelet.kubeconfig kubelet
	chmod 600 "$CONF"/*.kubeconfig

	write_file "$STATE/etc/containerd/config.toml" <<-EOF
		version = 2
		root = "$STATE/var/lib/containerd"
		state = "$STATE/run/containerd"
		oom_score = 0
		disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]
		[grpc]
		  address = "$SOCK"
		[ttrpc]
		  address = "$SOCK.ttrpc"
		[plugins."io.containerd.internal.v1.opt"]
		  path = "$STATE/opt/containerd"
		[plugins."io.containerd.grpc.v1.cri"]
		  sandbox_image = "$PAUSE_IMAGE"
		  netns_mounts_under_state_dir = true
		  # No CAP_SYS_RESOURCE on our machines: the sandbox's -998 could not be set.
		  restrict_oom_score_adj = true
		  stream_server_address = "127.0.0.1"
		  [plugins."io.containerd.grpc.v1.cri".containerd]
		    snapshotter = "overlayfs"
		    default_runtime_name = "runc"
		    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
		      runtime_type = "io.containerd.runc.v2"
		      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
		        BinaryName = "$(command -v runc)"
		        Root = "$STATE/run/runc"
		        SystemdCgroup = false
		  [plugins."io.containerd.grpc.v1.cri".cni]
		    bin_dir = "/usr/lib/cni"
		    conf_dir = "$STATE/etc/cni/net.d"
		    max_conf_num = 1
	EOF

	write_file "$STATE/etc/cni/net.d/10-kommerce.conflist" <<-EOF
		{
		  "cniVersion": "1.0.0",
		  "name": "kommerce",
		  "plugins": [
		    {
		      "type": "bridge", "bridge": "$BRIDGE", "isGateway": false, "ipMasq": false, "hairpinMode": true,
		      "ipam": {
		        "type": "host-local", "dataDir": "$STATE/var/lib/cni/networks",
		        "ranges": [[{"subnet": "$NODE_POD_CIDR", "gateway": "$BRIDGE_IP"}]],
		        "routes": [{"dst": "0.0.0.0/0", "gw": "$BRIDGE_IP"}]
		      }
		    },
		    {"type": "portmap", "capabilities": {"portMappings": true}}
		  ]
		}
	EOF

	write_file "$CONF/kubelet.yaml" <<-EOF
		apiVersion: kubelet.config.k8s.io/v1beta1
		kind: KubeletConfiguration
		# This machine's cgroups are v1 (hybrid); the kubelet refuses them unless told.
		failCgroupV1: false
		cgroupDriver: cgroupfs
		containerRuntimeEndpoint: unix://$SOCK
		address: $NODE_IP
		port: $KUBELET_PORT
		readOnlyPort: 0
		healthzBindAddress: 127.0.0.1
		healthzPort: $KUBELET_HEALTHZ_PORT
		tlsCertFile: $PKI/kubelet-serving.crt
		tlsPrivateKeyFile: $PKI/kubelet-serving.key
		authentication:
		  anonymous: {enabled: false}
		  webhook: {enabled: true}
		  x509: {clientCAFile: $PKI/ca.crt}
		authorization:
		  mode: Webhook
		clusterDomain: cluster.local
		clusterDNS: [$DNS_IP]
		# Pods do not inherit the host's resolvers: no query can leave through them.
		resolvConf: ""
		podLogsDir: $STATE/var/log/pods
		# No CAP_SYS_RESOURCE: an OOM score below 0 cannot be set.
		oomScoreAdj: 0
		makeIPTablesUtilChains: false
		failSwapOn: false
		serializeImagePulls: false
		# The disk is shared with build caches that grow by gigabytes: the default
		# thresholds (10 % / 15 % free) would taint the node DiskPressure and evict test
		# pods on a large disk with plenty of room left. Absolute floors keep the node
		# honest about a disk that is really full.
		evictionHard: {memory.available: 100Mi, nodefs.available: 2Gi, imagefs.available: 2Gi, nodefs.inodesFree: 5%}
		imageGCHighThresholdPercent: 95
		imageGCLowThresholdPercent: 90
		rotateCertificates: false
		serverTLSBootstrap: false
		maxPods: 50
	EOF

	write_file "$CONF/kube-proxy.yaml" <<-EOF
		apiVersion: kubeproxy.config.k8s.io/v1alpha1
		kind: KubeProxyConfiguration
		clientConnection:
		  kubeconfig: $CONF/kube-proxy.kubeconfig
		hostnameOverride: $NODE
		mode: iptables
		clusterCIDR: $CLUSTER_CIDR
		healthzBindAddress: 127.0.0.1:$PROXY_HEALTHZ_PORT
		metricsBindAddress: 127.0.0.1:$PROXY_METRICS_PORT
		oomScoreAdj: 0
		# Zeros leave the host's conntrack sysctls alone.
		conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
		iptables:
		  # true would set net.ipv4.conf.all.route_localnet=1 host-wide.
		  localhostNodePorts: false
		nodePortAddresses: ["$NODE_IP/32"]
	EOF

	write_file "$CONF/kube-scheduler.yaml" <<-EOF
		apiVersion: kubescheduler.config.k8s.io/v1
		kind: KubeSchedulerConfiguration
		clientConnection:
		  kubeconfig: $CONF/scheduler.kubeconfig
		leaderElection:
		  leaderElect: false
	EOF

	write_addons
}

write_addons() {
	write_file "$STATE/etc/addons/kube-router.yaml" <<-EOF
		# kube-router runs only its network-policy controller: it reads, never writes.
		apiVersion: rbac.authorization.k8s.io/v1
		kind: ClusterRole
		metadata: {name: "kommerce:kube-router"}
		rules:
		- apiGroups: [""]
		  resources: [namespaces, pods, nodes, services, endpoints]
		  verbs: [get, list, watch]
		- apiGroups: [networking.k8s.io]
		  resources: [networkpolicies]
		  verbs: [get, list, watch]
		- apiGroups: [discovery.k8s.io]
		  resources: [endpointslices]
		  verbs: [get, list, watch]
		---
		apiVersion: rbac.authorization.k8s.io/v1
		kind: ClusterRoleBinding
		metadata: {name: "kommerce:kube-router"}
		roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "kommerce:kube-router"}
		subjects:
		- {apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:kube-router"}
	EOF

	write_file "$STATE/etc/addons/coredns.yaml" <<-EOF
		apiVersion: v1
		kind: ServiceAccount
		metadata: {name: coredns, namespace: kube-system}
		---
		apiVersion: rbac.authorization.k8s.io/v1
		kind: ClusterRole
		metadata: {name: "system:coredns"}
		rules:
		- apiGroups: [""]
		  resources: [endpoints, services, pods, namespaces]
		  verbs: [list, watch]
		- apiGroups: [discovery.k8s.io]
		  resources: [endpointslices]
		  verbs: [list, watch]
		---
		apiVersion: rbac.authorization.k8s.io/v1
		kind: ClusterRoleBinding
		metadata: {name: "system:coredns"}
		roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
		subjects:
		- {kind: ServiceAccount, name: coredns, namespace: kube-system}
		---
		# No forward plugin: names outside cluster.local are not resolved, so no query leaves.
		apiVersion: v1
		kind: ConfigMap
		metadata: {name: coredns, namespace: kube-system}
		data:
		  Corefile: |
		    .:53 {
		        errors
		        health :8080
		        ready :8181
		        kubernetes cluster.local in-addr.arpa ip6.arpa {
		            pods insecure
		            fallthrough in-addr.arpa ip6.arpa
		            ttl 30
		        }
		        prometheus :9153
		        cache 30
		        reload
		        loadbalance
		    }
		---
		apiVersion: apps/v1
		kind: Deployment
		metadata:
		  name: coredns
		  namespace: kube-system
		  labels: {k8s-app: kube-dns}
		spec:
		  replicas: 1
		  selector:
		    matchLabels: {k8s-app: kube-dns}
		  template:
		    metadata:
		      labels: {k8s-app: kube-dns}
		    spec:
		      serviceAccountName: coredns
		      priorityClassName: system-cluster-critical
		      dnsPolicy: Default
		      securityContext:
		        runAsNonRoot: true
		        runAsUser: 65532
		        runAsGroup: 65532
		        seccompProfile: {type: RuntimeDefault}
		        # Port 53 without root or capabilities.
		        sysctls: [{name: net.ipv4.ip_unprivileged_port_start, value: "0"}]
		      containers:
		      - name: coredns
		        image: $COREDNS_IMAGE
		        imagePullPolicy: Never
		        args: [-conf, /etc/coredns/Corefile]
		        ports:
		        - {name: dns, containerPort: 53, protocol: UDP}
		        - {name: dns-tcp, containerPort: 53, protocol: TCP}
		        - {name: metrics, containerPort: 9153, protocol: TCP}
		        readinessProbe:
		          httpGet: {path: /ready, port: 8181}
		          periodSeconds: 1
		        livenessProbe:
		          httpGet: {path: /health, port: 8080}
		          periodSeconds: 10
		          failureThreshold: 5
		        resources:
		          requests: {cpu: 10m, memory: 32Mi}
		          limits: {memory: 128Mi}
		        securityContext:
		          allowPrivilegeEscalation: false
		          readOnlyRootFilesystem: true
		          capabilities: {drop: [ALL]}
		        volumeMounts:
		        - {name: config, mountPath: /etc/coredns, readOnly: true}
		      volumes:
		      - name: config
		        configMap: {name: coredns}
		---
		apiVersion: v1
		kind: Service
		metadata:
		  name: kube-dns
		  namespace: kube-system
		  labels: {k8s-app: kube-dns}
		spec:
		  clusterIP: $DNS_IP
		  selector: {k8s-app: kube-dns}
		  ports:
		  - {name: dns, port: 53, protocol: UDP}
		  - {name: dns-tcp, port: 53, protocol: TCP}
		  - {name: metrics, port: 9153, protocol: TCP}
	EOF

	local svc name port host_port
	{
		echo "apiVersion: v1"
		echo "kind: Namespace"
		echo "metadata: {name: kommerce-system}"
		for svc in "${HOST_SERVICES[@]}"; do
			read -r name port host_port <<<"$svc"
			cat <<-EOF
				---
				# $name of hack/services.sh, which listens on 127.0.0.1:$host_port; socat forwards
				# $BRIDGE_IP:$host_port there. No selector: the EndpointSlice below is its endpoint.
				apiVersion: v1
				kind: Service
				metadata: {name: $name, namespace: kommerce-system}
				spec:
				  ports:
				  - {name: $name, port: $port, targetPort: $host_port, protocol: TCP}
				---
				apiVersion: discovery.k8s.io/v1
				kind: EndpointSlice
				metadata:
				  name: $name-host
				  namespace: kommerce-system
				  labels:
				    kubernetes.io/service-name: $name
				    endpointslice.kubernetes.io/managed-by: cluster.sh.kommerce.dev
				addressType: IPv4
				ports:
				- {name: $name, port: $host_port, protocol: TCP}
				endpoints:
				- addresses: [$BRIDGE_IP]
				  conditions: {ready: true}
			EOF
		done
	} | write_file "$STATE/etc/addons/host-services.yaml"
}

# ---------------------------------------------------------------- processes

# start <name> <command...>: in its own session, so that the caller's terminal or job
# control cannot stop it; its pid (not a wrapper's) goes to $PIDS/<name>.pid.
start() {
	local name=$1
	shift
	mkdir -p "$LOGS" "$PIDS"
	echo "+ $*" >>"$LOGS/$name.log"
	setsid "$@" </dev/null >>"$LOGS/$name.log" 2>&1 9>&- &
	echo $! >"$PIDS/$name.pid"
}

# healthy <component>: its own health check, quietly.
healthy() {
	local name=$1
	alive "$name" || return 1
	case $name in
	containerd) ctr -a "$SOCK" version ;;
	etcd) curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" ;;
	kube-apiserver) curl -fsS --max-time 2 --cacert "$PKI/ca.crt" "https://127.0.0.1:$API_PORT/readyz" ;;
	kube-controller-manager) curl -fsS --max-time 2 -k "https://127.0.0.1:$KCM_PORT/healthz" ;;
	kube-scheduler) curl -fsS --max-time 2 -k "https://127.0.0.1:$SCHEDULER_PORT/healthz" ;;
	kubelet) curl -fsS --max-time 2 "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz" ;;
	kube-proxy) curl -fsS --max-time 2 "http://127.0.0.1:$PROXY_HEALTHZ_PORT/healthz" ;;
	kube-router) curl -fsS --max-time 2 "http://127.0.0.1:$ROUTER_HEALTH_PORT/healthz" ;;
	forward-*) [[ -n $(ss -Hltn "src $BRIDGE_IP and sport = :$(forward_port "${name#forward-}")") ]] ;;
	*) return 1 ;;
	esac >/dev/null 2>&1
}

forward_port() {
	local svc name port host_port
	for svc in "${HOST_SERVICES[@]}"; do
		read -r name port host_port <<<"$svc"
		[[ $name == "$1" ]] && echo "$host_port"
	done
}

# wait_healthy <component> <seconds>: fails at once, with the log's tail, if the
# process exits, so that a broken component is named rather than waited for.
wait_healthy() {
	local name=$1 timeout=$2 start=$SECONDS
	until healthy "$name"; do
		if ! alive "$name"; then
			say "$name exited; last lines of $LOGS/$name.log:"
			tail -n 25 "$LOGS/$name.log" >&2 || true
			die "$name failed to start"
		fi
		if ((SECONDS - start >= timeout)); then
			say "$name not healthy within ${timeout}s; last lines of $LOGS/$name.log:"
			tail -n 25 "$LOGS/$name.log" >&2 || true
			die "$name did not become healthy"
		fi
		sleep 0.2
	done
	say "$name healthy ($((SECONDS - start))s)"
}

import_image() { # import_image <tar> <name:tag>: import, then tag as name:tag
	local tar=$1 ref=$2 from
	from=$(tar -xOf "$tar" manifest.json 2>/dev/null | grep -o '"RepoTags":\["[^"]*"' | head -1 | sed 's/.*\["//; s/"$//' || true)
	ctr -a "$SOCK" -n k8s.io images import "$tar" >/dev/null || die "containerd could not import $tar"
	if [[ -n $ref && -n $from && $from != "$ref" ]]; then
		ctr -a "$SOCK" -n k8s.io images tag --force "$from" "$ref" >/dev/null
		ctr -a "$SOCK" -n k8s.io images rm "$from" >/dev/null
	fi
	echo "${ref:-$from}"
}

node_ready() {
	[[ $(kc get node "$NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

start_components() {
	local etcd_dir=$STATE/var/lib/etcd
	start containerd "$(command -v containerd)" --config "$STATE/etc/containerd/config.toml"
	wait_healthy containerd 30
	import_image "$PAUSE_TAR" "$PAUSE_IMAGE" >/dev/null
	import_image "$COREDNS_TAR" "$COREDNS_IMAGE" >/dev/null
	import_image "$PROBE_TAR" "$PROBE_IMAGE" >/dev/null

	# The cluster is thrown away at down: etcd need not sync every write to disk.
	start etcd "$(tool etcd)" --name kommerce --data-dir "$etcd_dir" --unsafe-no-fsync \
		--listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-cluster "kommerce=http://127.0.0.1:$ETCD_PEER_PORT" --log-level warn
	wait_healthy etcd 30

	start kube-apiserver "$(tool kube-apiserver)" --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
		--bind-address=0.0.0.0 --secure-port="$API_PORT" --advertise-address="$NODE_IP" --cert-dir="$PKI/generated" \
		--tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" --client-ca-file="$PKI/ca.crt" \
		--kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
		--kubelet-certificate-authority="$PKI/ca.crt" --kubelet-preferred-address-types=InternalIP,Hostname \
		--requestheader-client-ca-file="$PKI/ca.crt" --requestheader-allowed-names=front-proxy-client \
		--requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
		--requestheader-extra-headers-prefix=X-Remote-Extra- \
		--proxy-client-cert-file="$PKI/front-proxy-client.crt" --proxy-client-key-file="$PKI/front-proxy-client.key" \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
		--service-cluster-ip-range="$SERVICE_CIDR" --authorization-mode=Node,RBAC \
		--enable-admission-plugins=NodeRestriction --allow-privileged=true --v=1
	wait_healthy kube-apiserver 90

	start kube-controller-manager "$(tool kube-controller-manager)" --kubeconfig="$CONF/controller-manager.kubeconfig" \
		--authentication-kubeconfig="$CONF/controller-manager.kubeconfig" --authorization-kubeconfig="$CONF/controller-manager.kubeconfig" \
		--bind-address=127.0.0.1 --secure-port="$KCM_PORT" \
		--service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
		--cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
		--use-service-account-credentials=true --allocate-node-cidrs=true --cluster-cidr="$CLUSTER_CIDR" \
		--node-cidr-mask-size=24 --service-cluster-ip-range="$SERVICE_CIDR" --leader-elect=false --v=1
	start kube-scheduler "$(tool kube-scheduler)" --config="$CONF/kube-scheduler.yaml" \
		--authentication-kubeconfig="$CONF/scheduler.kubeconfig" --authorization-kubeconfig="$CONF/scheduler.kubeconfig" \
		--bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" --v=1
	start kubelet "$(tool kubelet)" --config="$CONF/kubelet.yaml" --kubeconfig="$CONF/kubelet.kubeconfig" \
		--root-dir="$STATE/var/lib/kubelet" --cert-dir="$STATE/var/lib/kubelet/pki" --hostname-override="$NODE" --node-ip="$NODE_IP" --v=1
	kc apply --server-side --force-conflicts -f "$STATE/etc/addons/" >/dev/null || die "kubectl apply of the add-ons failed"
	wait_healthy kube-controller-manager 60
	wait_healthy kube-scheduler 60
	wait_healthy kubelet 60

	local t0=$SECONDS
	until node_ready; do
		alive kubelet || wait_healthy kubelet 0
		((SECONDS - t0 < 90)) || die "node $NODE not Ready within 90s; see $LOGS/kubelet.log"
		sleep 0.2
	done
	NODE_READY_AT=$SECONDS
	restore_sysctls

	start kube-proxy "$(tool kube-proxy)" --config="$CONF/kube-proxy.yaml" --v=1
	start kube-router "$KUBE_ROUTER" --run-firewall=true --run-router=false --run-service-proxy=false \
		--kubeconfig="$CONF/kube-router.kubeconfig" --hostname-override="$NODE" \
		--service-cluster-ip-range="$SERVICE_CIDR" --health-port="$ROUTER_HEALTH_PORT" --metrics-port=0 --v=1
	local svc name port host_port
	for svc in "${HOST_SERVICES[@]}"; do
		read -r name port host_port <<<"$svc"
		start "forward-$name" "$(command -v socat)" \
			"TCP-LISTEN:$host_port,bind=$BRIDGE_IP,fork,reuseaddr,backlog=128" "TCP:127.0.0.1:$host_port"
	done
	wait_healthy kube-proxy 60
	wait_healthy kube-router 60
	for svc in "${HOST_SERVICES[@]}"; do
		read -r name _ <<<"$svc"
		wait_healthy "forward-$name" 10
	done
	kc -n kube-system rollout status deployment/coredns --timeout=120s >/dev/null ||
		die "CoreDNS did not become ready; kubectl -n kube-system describe pod -l k8s-app=kube-dns"
	restore_sysctls
}

# ---------------------------------------------------------------- tear-down

# stop_all <name...>: TERM all at once, wait up to 20 s, KILL what is left.
stop_all() {
	local name pids=()
	for name in "$@"; do
		alive "$name" && pids+=("$(cat "$PIDS/$name.pid")")
	done
	((${#pids[@]})) || return 0
	kill -TERM "${pids[@]}" 2>/dev/null
	local i
	for i in $(seq 1 100); do
		kill -0 "${pids[@]}" 2>/dev/null || break
		sleep 0.2
	done
	kill -KILL "${pids[@]}" 2>/dev/null
	for name in "$@"; do rm -f "$PIDS/$name.pid"; done
}

# our_pids prints every process that belongs to the cluster even if its pid file is lost:
# its command line names the state folder, or it runs in the pods' cgroups.
our_pids() {
	local pid
	for pid in $(pgrep -f -- "$STATE/" 2>/dev/null); do
		[[ $pid != "$$" && $pid != "$BASHPID" ]] && echo "$pid"
	done
	pgrep -f -- "TCP-LISTEN:[0-9]+,bind=$BRIDGE_IP" 2>/dev/null || true
	cat /sys/fs/cgroup/*/kubepods/cgroup.procs /sys/fs/cgroup/*/kubepods/*/cgroup.procs \
		/sys/fs/cgroup/*/kubepods/*/*/cgroup.procs /sys/fs/cgroup/*/kubepods/*/*/*/cgroup.procs 2>/dev/null || true
}

# clean_iptables removes every rule and chain of kube-proxy, kube-router, the CNI portmap
# plugin and this script, in both address families, through iptables-restore so that
# quoted comments survive.
clean_iptables() {
	local family table save rules chains
	for family in iptables ip6tables; do
		for table in filter nat mangle raw; do
			save=$("$family-save" -t "$table" 2>/dev/null) || continue
			rules=$(grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) ' <<<"$save" |
				grep -E -- '-j (KUBE-|CNI-)|kommerce: ' | sed 's/^-A /-D /' || true)
			chains=$(sed -nE 's/^:((KUBE-|CNI-)[^ ]*) .*/\1/p' <<<"$save")
			[[ -n $rules || -n $chains ]] || continue
			{
				echo "*$table"
				[[ -n $rules ]] && echo "$rules"
				for c in $chains; do echo "-F $c"; done
				for c in $chains; do echo "-X $c"; done
				echo COMMIT
			} | "$family-restore" --noflush || say "could not remove the $family $table rules"
		done
	done
	# iptables-nft leaves the tables it created; drop those that did not exist before and
	# are empty now.
	local before="" fam name
	[[ -f $HOST/nft-tables ]] && before=$(cat "$HOST/nft-tables")
	while read -r _ fam name; do
		[[ -n $name ]] || continue
		grep -qx "table $fam $name" <<<"$before" && continue
		# Rules carry a handle; so do chains and the table, which are not rules.
		if ! nft -a list table "$fam" "$name" | grep '# handle' | grep -qvE '^[[:space:]]*(table|chain) '; then
			nft delete table "$fam" "$name"
		fi
	done < <(nft list tables 2>/dev/null)
}

teardown() {
	set +e
	local t0=$SECONDS
	# The kubelet first, so that it starts nothing again; then every pod through the CRI, so
	# that the CNI plugins release addresses and host ports as they do on any node.
	stop_all kubelet
	if alive containerd && [[ -x $CRICTL ]]; then
		timeout 60 "$CRICTL" --runtime-endpoint "unix://$SOCK" --timeout 30s rmp --all --force >/dev/null 2>&1 ||
			say "crictl could not remove every pod; killing what is left"
	fi
	# The rest at once, but etcd last: kube-apiserver takes minutes to stop without it.
	stop_all containerd kube-router kube-proxy kube-scheduler kube-controller-manager kube-apiserver \
		$(cd "$PIDS" 2>/dev/null && ls | sed -n 's/\.pid$//p' | grep '^forward-')
	stop_all etcd
	local pids
	pids=$(our_pids | sort -u)
	if [[ -n $pids ]]; then
		say "killing processes left over: $(echo $pids)"
		kill -KILL $pids 2>/dev/null
		local i
		for i in $(seq 1 50); do
			[[ -z $(our_pids) ]] && break
			sleep 0.1
		done
	fi

	# Mounts: overlays, pod volumes, network namespaces, shm; deepest first.
	local mnt
	for mnt in $(awk '{print $5}' /proc/self/mountinfo | grep -E "^($STATE|/run/containerd|/var/lib/kubelet)/" | sort -r); do
		umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || say "could not unmount $mnt"
	done

	# Every cgroup the kubelet and runc made for pods, in every hierarchy.
	local root
	for root in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
		[[ -d $root ]] && find "$root" -depth -type d -exec rmdir {} + 2>/dev/null
		[[ -d $root ]] && say "could not remove cgroup $root"
	done

	ip link del "$BRIDGE" 2>/dev/null
	clean_iptables
	ipset list -n 2>/dev/null | grep -E '^(inet6:)?KUBE-' | xargs -r -n1 ipset destroy 2>/dev/null
	local net
	for net in "${CLUSTER_CIDR%/*} --mask-src 255.255.0.0" "${SERVICE_CIDR%/*} --mask-src 255.255.0.0"; do
		conntrack -D -s $net >/dev/null 2>&1
		conntrack -D -d ${net/--mask-src/--mask-dst} >/dev/null 2>&1
	done
	restore_sysctls

	# Paths the components hard-code; those that existed before up stay, with only what
	# the cluster put there removed.
	remove_hardcoded_paths

	if [[ -d $LOGS ]]; then
		rm -rf "$BUILD/logs" && mkdir -p "$BUILD" && mv "$LOGS" "$BUILD/logs"
	fi
	rm -rf "$STATE"
	say "down: everything removed ($((SECONDS - t0))s)"
	set -e
}

# remove_hardcoded_paths removes the paths outside $STATE that the kubelet, containerd and
# libcni hard-code: whole, if up recorded that they did not exist before; otherwise only
# what the cluster puts there.
remove_hardcoded_paths() {
	local p
	for p in "${HARDCODED_PATHS[@]}"; do
		[[ -e $p ]] || continue
		if [[ -f $HOST/paths ]] && ! grep -qx "$p" "$HOST/paths"; then
			rm -rf "$p"
			continue
		fi
		case $p in
		/var/lib/kubelet) rm -f "$p/device-plugins/kubelet.sock" ;;
		/var/log/containers) find "$p" -maxdepth 1 -lname "$STATE/*" -delete ;;
		/run/containerd) find "$p/s" -maxdepth 1 -type s ! -exec fuser -s {} \; -delete 2>/dev/null ;;
		/var/lib/cni) find "$p/results" -maxdepth 1 -name 'kommerce-*' -delete 2>/dev/null ;;
		esac
	done
}

leftovers() {
	[[ -e $STATE ]] || ip link show "$BRIDGE" >/dev/null 2>&1 || [[ -n $(our_pids) ]]
}

# ---------------------------------------------------------------- commands

lock() {
	mkdir -p "$BUILD"
	exec 9>"$BUILD/.lock"
	flock -w 900 9 || die "another hack/cluster.sh up or down is running"
}

print_howto() {
	cat <<-EOF
		Kubernetes $K8S_VERSION, node $NODE ($NODE_IP), API https://127.0.0.1:$API_PORT
		  eval "\$(hack/cluster.sh env)"      # KUBECONFIG=$ADMIN_KUBECONFIG, kubectl on PATH
		  kubectl get nodes
		  hack/cluster.sh load <image.tar> [name:tag]   # pods need imagePullPolicy Never or IfNotPresent
		Host services for pods (namespace kommerce-system): postgres:5432 redis:6379 kafka:9092 elasticsearch:9200
		Images there: $PAUSE_IMAGE $COREDNS_IMAGE $PROBE_IMAGE
		hack/cluster.sh down removes everything.
	EOF
}

cmd_up() {
	need_root
	lock
	local t0=$SECONDS
	if [[ -d $STATE ]] && all_healthy; then
		say "already up"
		NODE_IP=$(cat "$STATE/run/node-ip")
		print_howto
		return 0
	fi
	if leftovers; then
		say "a previous cluster left things behind; removing them first"
		teardown
	fi
	ensure_packages
	NODE_IP=${KOMMERCE_CLUSTER_NODE_IP:-$(node_ip)}
	check_free
	ensure_binaries
	ensure_images
	check_free
	local t_start=$SECONDS

	trap 'rc=$?; if ((rc != 0)); then say "up failed; removing what it started"; teardown; fi; exit $rc' EXIT
	mkdir -p "$STATE/run"
	echo "$ENVTEST_DIR" >"$STATE/run/envtest-dir"
	echo "$NODE_IP" >"$STATE/run/node-ip"
	record_host
	network_up
	make_pki
	write_configs
	start_components
	trap - EXIT
	say "up in $((SECONDS - t0))s: node Ready $((NODE_READY_AT - t_start))s and CoreDNS ready $((SECONDS - t_start))s after the first process started"
	print_howto
}

all_healthy() {
	local c
	for c in "${COMPONENTS[@]}"; do healthy "$c" || return 1; done
}

cmd_down() {
	need_root
	lock
	if ! leftovers; then
		say "not running; nothing to remove"
		return 0
	fi
	teardown
}

cmd_status() {
	if [[ ! -d $STATE ]]; then
		echo "cluster not running"
		return 1
	fi
	local rc=0 name pid state
	printf '%-26s %-8s %s\n' COMPONENT PID STATE
	local forwards=()
	for name in $(cd "$PIDS" 2>/dev/null && ls | sed -n 's/\.pid$//p' | grep '^forward-'); do forwards+=("$name"); done
	for name in "${COMPONENTS[@]}" "${forwards[@]}"; do
		pid=$(cat "$PIDS/$name.pid" 2>/dev/null || echo -)
		if healthy "$name"; then
			state=healthy
		elif alive "$name"; then
			state="running, not healthy"
			rc=1
		else
			state=stopped
			pid=-
			rc=1
		fi
		printf '%-26s %-8s %s\n' "$name" "$pid" "$state"
	done
	if healthy kube-apiserver; then
		echo
		kc get node -o wide || rc=1
		echo
		kc -n kube-system get deployment coredns || rc=1
	fi
	return $rc
}

cmd_env() {
	[[ -f $ADMIN_KUBECONFIG ]] || die "cluster not running: hack/cluster.sh up"
	echo "export KUBECONFIG=$ADMIN_KUBECONFIG"
	echo "export PATH=$(cat "$STATE/run/envtest-dir"):\$PATH"
}

cmd_load() {
	local tar=${1:-} ref=${2:-}
	[[ -n $tar ]] || die "usage: hack/cluster.sh load <image.tar> [name:tag]"
	[[ -f $tar ]] || die "no such file: $tar"
	need_root
	healthy containerd || die "containerd is not running: hack/cluster.sh up"
	local t0=$SECONDS name
	name=$(import_image "$tar" "$ref")
	say "loaded $name from $tar in $((SECONDS - t0))s"
}

main() {
	local cmd=${1:-}
	[[ -n $cmd ]] || {
		sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
		exit 2
	}
	shift
	case $cmd in
	up) cmd_up ;;
	down) cmd_down ;;
	status) cmd_status ;;
	env) cmd_env ;;
	load) cmd_load "$@" ;;
	*) die "unknown command '$cmd' (up, down, status, env, load)" ;;
	esac
}

main "$@"
