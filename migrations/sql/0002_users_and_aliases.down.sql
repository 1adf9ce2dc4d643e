DROP TABLE aliases;
DROP TABLE users;
