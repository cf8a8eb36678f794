#ifndef CLDQN_VERSION_H
#define CLDQN_VERSION_H
#define CLDQN_VERSION "0.1.0"
#endif
