# One image for every kommerce subcommand. The final stage is Debian-based (glibc and
# libstdc++), because the inference server loads onnxruntime's shared library.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=1 go build -trimpath \
      -ldflags "-s -w -X github.com/kommerce/kommerce/internal/version.Version=${VERSION} -X github.com/kommerce/kommerce/internal/version.Commit=${COMMIT} -X github.com/kommerce/kommerce/internal/version.Date=${DATE}" \
      -o /out/kommerce ./cmd/kommerce

# onnxruntime's shared library for `kommerce inference`, from the npm package
# onnxruntime-node (npm pack, no install scripts), pinned by sha256 in the script.
FROM node:22-bookworm-slim AS onnxruntime
COPY hack/onnxruntime.sh /hack/onnxruntime.sh
RUN export KOMMERCE_CACHE_DIR=/cache && /hack/onnxruntime.sh && cp "$(/hack/onnxruntime.sh --path)" /libonnxruntime.so.1

# The base file system: the same script `make image` uses (hack/image.sh rootfs), so
# both builds carry the same files: glibc, libstdc++, libgcc_s, CA bundle, time zones,
# the user 65532 — and no shell or package manager.
FROM debian:bookworm-slim AS base
COPY hack/image.sh /hack/image.sh
RUN apt-get update && cd / && /hack/image.sh rootfs /rootfs && rm -rf /var/lib/apt/lists/*

# hack/image.sh reads ENTRYPOINT, CMD, USER, ENV and EXPOSE below and checks the COPY
# destinations, so `make image` (no Docker daemon) builds the same image.
FROM scratch
COPY --from=base /rootfs/ /
COPY --from=onnxruntime /libonnxruntime.so.1 /usr/local/lib/libonnxruntime.so.1
COPY --from=build /out/kommerce /usr/local/bin/kommerce
ENV PATH=/usr/local/bin:/usr/bin:/bin
ENV KOMMERCE_ONNXRUNTIME_LIB=/usr/local/lib/libonnxruntime.so.1
USER 65532:65532
# api :8080, inference :8081, ingest :8082, operator metrics :8083 and probes :8084
EXPOSE 8080 8081 8082 8083 8084
ENTRYPOINT ["/usr/local/bin/kommerce"]
CMD ["--help"]
