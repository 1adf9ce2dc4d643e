DROP TABLE registrations;
DROP TABLE nodes;
