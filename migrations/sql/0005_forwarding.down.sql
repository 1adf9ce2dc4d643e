DROP TABLE sequential_ring_steps;
DROP TABLE forwarding;
