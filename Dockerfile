# WireGUI in a container: one static binary on a small base with the WireGuard tools for debugging.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /wiregui .

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends wireguard-tools iproute2 nftables ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /wiregui /usr/local/bin/wiregui
ENV WG_DATA_DIR=/var/lib/wiregui
VOLUME /var/lib/wiregui
EXPOSE 13000/tcp 51820/udp
ENTRYPOINT ["/usr/local/bin/wiregui"]
CMD ["serve"]
