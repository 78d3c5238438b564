package ui

import "fmt"

// plural is n with the singular or the plural form: "1 picture", "3
// pictures".
func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// itOrThem is "it" for one thing and "them" for more.
func itOrThem(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}
