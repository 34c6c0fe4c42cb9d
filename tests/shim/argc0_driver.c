/* Calls the shim's main with argc 0, as a kernel older than 5.18 would
 * (newer kernels turn an empty argv into {""}, so execve cannot show it). */
int shim_main(int argc, char *argv[]);

int main(void)
{
	char *argv[] = { 0 };
	return shim_main(0, argv);
}
