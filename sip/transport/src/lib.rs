//! Carillon's SIP transport driver: the sockets, the timers and DNS that the sans-IO core leaves out.
