#include "store/durable.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int durable_fsync(int fd)
{
    int rc;
    while ((rc = fsync(fd)) != 0 && errno == EINTR)
        ;
    return rc;
}

int durable_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = durable_fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}
