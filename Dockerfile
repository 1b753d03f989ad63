# The exchange's program in a container: built from this tree on Debian 12 into its .deb, which
# the image installs (the same files, units aside, as `make package` gives an operator).
#   docker build -t ipsx .
#   docker run --rm ipsx --version
#   docker run -d -p 8080:8080 -v ipsx-node:/var/lib/ipsx ipsx node --data /var/lib/ipsx/ledger \
#     --listen 0.0.0.0:8080 ...
# The program runs as the package's `ipsx` user; state belongs in the /var/lib/ipsx volume.
FROM debian:12 AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
COPY package.json package-lock.json ./
RUN scripts/install-deps.sh
COPY . .
RUN make build && cd build && cpack -G DEB

FROM debian:12-slim
COPY --from=build /src/build/ipsx_*.deb /tmp/
RUN apt-get update \
 && apt-get install -y --no-install-recommends /tmp/ipsx_*.deb ca-certificates \
 && rm -rf /var/lib/apt/lists/* /tmp/*.deb \
 && install -d -o ipsx -g ipsx -m 0700 /var/lib/ipsx
USER ipsx
WORKDIR /var/lib/ipsx
VOLUME /var/lib/ipsx
ENTRYPOINT ["/usr/bin/ipsx"]
CMD ["--help"]
