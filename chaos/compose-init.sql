-- Users for docker-compose.yml's db1 (chaos/lab creates the same ones itself).
CREATE USER IF NOT EXISTS 'repl'@'%' IDENTIFIED BY 'repl-secret';
GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'repl'@'%';
CREATE USER IF NOT EXISTS 'myha'@'%' IDENTIFIED BY 'myha-admin-secret';
GRANT ALL PRIVILEGES ON *.* TO 'myha'@'%' WITH GRANT OPTION;
CREATE DATABASE IF NOT EXISTS app;
CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY 'app-secret';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER ON app.* TO 'app'@'%';
