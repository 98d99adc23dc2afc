-- The Unix user a task without a container runs as, fixed at submit by the resource policy for
-- the submitter's role; none: the runner's own user.
ALTER TABLE tasks ADD COLUMN run_as TEXT;
