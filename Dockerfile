# Multi-stage build of the freightdrop server.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin freightdrop

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/freightdrop freightdrop \
    && mkdir -p /var/lib/freightdrop /etc/freightdrop/certs \
    && chown freightdrop: /var/lib/freightdrop /etc/freightdrop/certs
COPY --from=build /src/target/release/freightdrop /usr/local/bin/freightdrop
USER freightdrop
ENV FREIGHTDROP_DATA_DIR=/var/lib/freightdrop \
    FREIGHTDROP_CERTS_DIR=/etc/freightdrop/certs \
    FREIGHTDROP_LOG_FORMAT=json
# Ports below 1024 need a capability inside the container; FTP listens on 2121 here and the
# compose file publishes it as 21.
ENV FREIGHTDROP_FTP_ADDR=0.0.0.0:2121
EXPOSE 2121 2222 8080 50000-50100
ENTRYPOINT ["freightdrop"]
CMD ["serve"]
