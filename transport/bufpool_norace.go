//go:build !race

package transport

const poisonPooled = false
