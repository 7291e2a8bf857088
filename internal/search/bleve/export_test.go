package bleve

// SetMappingVersionForTest records another mapping version in an index, as an older
// release would have.
func SetMappingVersionForTest(b *Backend, alias, v string) error {
	ix, err := b.open(alias, false)
	if err != nil {
		return err
	}
	return ix.bidx.SetInternal(mappingKey, []byte(v))
}
