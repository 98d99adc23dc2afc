-- Whether a node's Docker engine answered when its runner registered (1) or not (0): a node
-- without one takes only tasks without a container.
ALTER TABLE nodes ADD COLUMN docker_available INTEGER NOT NULL DEFAULT 1;
