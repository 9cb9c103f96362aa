#!/usr/bin/env python3
"""Prints one TCP port that 127.0.0.1 can bind right now.

Usage: free_port.py [TAKEN_PORT...]

Ports are drawn at random from 20000-32767, below Linux's default ephemeral range (32768-60999),
so that outgoing connections do not take the port between this check and the server's bind.
The ports given as arguments are never returned (a script choosing several ports at once).
"""
import random
import socket
import sys

LOW, HIGH = 20000, 32767


def bindable(port: int) -> bool:
    """True when nothing holds 127.0.0.1:port (nor a wildcard address on it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def main() -> int:
    taken = {int(arg) for arg in sys.argv[1:]}
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randint(LOW, HIGH)
        if port not in taken and bindable(port):
            print(port)
            return 0
    print("free_port.py: error: no free port found in %d-%d" % (LOW, HIGH), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
