DROP TABLE user_classes;
DROP TABLE domains;
