// Package recording writes one H.264 track of a session as fragmented MP4
// (ISO BMFF: ftyp+moov, then one moof+mdat per batch) with
// github.com/Eyevinn/mp4ff, and reads such files back (Probe).
//
// The file plays in ffmpeg and in browsers through Media Source Extensions
// (sample entry 'avc1', SPS/PPS in avcC) and can be served while it is
// still being written: every committed byte is a whole box, and a reader
// only has to stop at the committed size (or let Probe find the last
// complete fragment).
//
// Crash safety is batch-oriented, matching how the backend acknowledges
// messages: Write appends exactly one fragment, Sync makes it durable,
// State describes everything needed to continue (committed size, next
// fragment number, time base, parameter sets). The caller stores State
// atomically with its own progress after Sync. Open with that State
// truncates whatever a crash left after the committed size (a torn
// fragment) and continues; the samples of a fragment that was written but
// not recorded in a stored State are simply written again.
//
// Timing: the timescale is 90 kHz. A sample's decode time is its capture
// time minus the track's start (the first written sample's time), so the
// file keeps the capture clock: gaps in capture stay gaps in the file, and
// each fragment's tfdt is its first sample's capture offset. A sample's
// duration is the distance to the next sample. The last sample of a batch
// first gets the previous distance (or the batch before's, or 1/15 s for
// the very first); when the next batch arrives, that 4-byte duration field
// is patched in place to reach the new fragment's first sample, so the
// finished file has no holes in its timeline: Chromium's MSE splits its
// buffered ranges at a hole and playback stalls there. (A live MSE viewer
// that already took the earlier fragment still sees the hole: the
// dashboard's player should jump gaps.) Decode times are kept strictly
// increasing: a sample stamped at or before its predecessor is moved one
// tick after it (counted in State.ClampedTimes).
//
// Samples that cannot be placed in a decodable file are kept out and
// counted in State.Dropped: everything before the first IDR that carries
// SPS and PPS, and access units without a picture. Parameter sets equal to
// the sample entry's are stripped from samples; different ones (a
// resolution change, or a client that restarted its encoder) stay in-band
// on their keyframe, with the PPS repeated (a decoder that sees a new SPS
// under the same id drops the PPSs that refer to it), while the sample
// entry keeps describing the first. ffmpeg decodes such a file frame by
// frame at the new size. State.InbandParams counts such keyframes; a
// caller that wants one description per file starts a new file when it
// grows.
//
// Client bytes are untrusted. Before any parser (mp4ff's or ours) sees an
// access unit, it is split into NAL units without copying (at most
// MaxNALUnits) and every SPS and PPS goes through a bounded pre-check of
// its own (paramsets.go: ValidateSPS, ValidatePPS; CheckAccessUnit for a
// whole unit, which the backend's ingest runs on every media message).
// The writer runs the same checks again and keeps a failing sample out,
// counted in State.Invalid; Open checks the SPS of the State it is given,
// and Probe that of the file.
//
// What surprised us (issue 12):
//   - mp4ff v0.51.0's avc.ParseSPSNALUnit makes a []uint of
//     num_ref_frames_in_pic_order_cnt_cycle entries, a client's exp-Golomb
//     number, and fills it even after its bit reader ran out (a failed
//     read returns 0 and the loop goes on). A 14-byte SPS cost 4 GiB and
//     ~24 s of CPU (4.2 GB RSS measured), and then the sample was dropped
//     and acked, ready to be sent again.
//   - The same parser runs three times for one init segment: in our
//     writer, in mp4.TrakBox.SetAVCDescriptor and in
//     avc.CreateAVCDecConfRec. Guarding one call site would not have been
//     enough; the check sits in front of the writer as a whole.
//   - avc.ExtractNalusFromByteStream copies every NAL unit: a 4 MiB
//     message of bare start codes was 1.4 million allocations. Our split
//     returns sub-slices and stops at the bound (a fuzz test checks it
//     splits as mp4ff does).
//   - An SPS's signed fields (±(2^31−1)) are exactly the exp-Golomb codes
//     with at most 31 leading zeros: one bound on code length covers them.
package recording
