package die

// ChunkSizes are the sizes of the reader's last chunks of entries and
// fields (0 before its first).
func (r *Reader) ChunkSizes() (entries, fields int) { return r.entriesNext, r.fieldsNext }
