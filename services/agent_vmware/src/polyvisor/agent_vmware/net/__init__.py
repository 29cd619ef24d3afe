"""The vSphere network data plane: port groups per network, NICs with the port's MAC, and the
guest's network configuration through guestinfo (docs/networking.md, "vSphere")."""
