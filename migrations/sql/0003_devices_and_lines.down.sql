DROP TABLE lines;
DROP TABLE devices;
