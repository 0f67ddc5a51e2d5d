/* The fixed-width integers of the C files here, each its own module: this is included, not linked. */
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef int i32;
typedef unsigned long long u64;
