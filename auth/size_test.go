package auth

import "unsafe"

func identitySize() uintptr { return unsafe.Sizeof(Identity{}) }
