// The second unit of the die tests' programs (see forms.cc).
#include <cstdio>
#include <string>
#include <vector>

long work(std::vector<int> &v, const std::string &s);

int main(int argc, char **argv) {
	std::vector<int> v{1, 2, 3, argc};
	std::string s(argv[0]);
	std::printf("%ld\n", work(v, s));
	return 0;
}
