set -e
while iptables -t nat -D PREROUTING -p tcp -j MESHFED_INBOUND 2>/dev/null; do :; done
while iptables -t nat -D OUTPUT -p tcp -j MESHFED_OUTPUT 2>/dev/null; do :; done
printf '%s\n' \
  '*nat' \
  ':MESHFED_INBOUND - [0:0]' \
  ':MESHFED_OUTPUT - [0:0]' \
  '-A PREROUTING -p tcp -j MESHFED_INBOUND' \
  '-A OUTPUT -p tcp -j MESHFED_OUTPUT' \
  '-A MESHFED_INBOUND -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 18080' \
  '-A MESHFED_OUTPUT -m owner --uid-owner 1500 -j RETURN' \
  '-A MESHFED_OUTPUT -d 127.0.0.0/8 -j RETURN' \
  '-A MESHFED_OUTPUT -d 10.96.0.15/32 -j RETURN' \
  '-A MESHFED_OUTPUT -d 169.254.169.254/32 -j RETURN' \
  '-A MESHFED_OUTPUT -d 10.200.0.0/16 -j RETURN' \
  '-A MESHFED_OUTPUT -p tcp -m tcp --dport 5432 -j RETURN' \
  '-A MESHFED_OUTPUT -p tcp -j REDIRECT --to-ports 15002' \
  'COMMIT' \
  | iptables-restore --noflush
