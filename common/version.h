/* The version, set by meson from project(version:). */
#ifndef CFS_VERSION_H
#define CFS_VERSION_H
#ifndef CFS_VERSION
#define CFS_VERSION "unknown"
#endif
#endif
