      ******************************************************************
      * COBRIX-TEST6: a record of every numeric usage, 1493 bytes.
      *
      * Written by hand for this project (tests/unit/test_realdata.py).
      * It is NOT cobrix's copybook and copies none of it: every entry
      * was worked out from cobrix's public layout table (field names,
      * start, end, length: test6_layout.txt, no PICs), from the bytes
      * of INTEGR.TYPES.NOV28.DATA.dat and from the values cobrix
      * expects (test6.txt), all in shared/realdata/cobrix/test6
      * (AbsaOSS/cobrix, Apache-2.0, copyright 2018 ABSA Group Limited).
      *
      * The usage is read from the field name (NUM_STR_* DISPLAY,
      * NUM_BIN_*/NUM_SBIN_*/*_BIN COMP, NUM_BCD_*/*COMP3/*DDC COMP-3,
      * FLOAT_01/DOUBLE_01 COMP-1/COMP-2, SL/ST separate leading and
      * trailing signs, SLI/STI overpunched leading and trailing), the
      * number of digits and the scale from the byte length and the
      * expected values. Data names use '-' where the table has '_';
      * ID, a COBOL reserved word, is TEST6-ID.
      *
      * Fields no COBOL PICTURE here can describe are FILLER of their
      * length, so every byte stays placed; the test's exception table
      * says why for each:
      * - 37-digit DISPLAY and COMP-3 numbers: we allow 31 digits;
      * - binary numbers of 9, 12 and 16 bytes: COBOL binary is at most
      *   8 bytes (18 digits);
      * - NUM_STR_EDEC*: an explicit point with an overpunched sign
      *   ("305.0L"), which no COBOL picture is; read as text.
      ******************************************************************
       01  COBRIX-TEST6.
           10  TEST6-ID                PIC 9(9)        COMP.
           10  STRING-VAL              PIC X(10).
      *    Zoned decimal, unsigned whole numbers.
           10  NUM-STR-INT01           PIC 9(1).
           10  NUM-STR-INT02           PIC 9(2).
           10  NUM-STR-INT03           PIC 9(3).
           10  NUM-STR-INT04           PIC 9(4).
           10  NUM-STR-INT05           PIC 9(5).
           10  NUM-STR-INT06           PIC 9(8).
           10  NUM-STR-INT07           PIC 9(9).
           10  NUM-STR-INT08           PIC 9(10).
           10  NUM-STR-INT09           PIC 9(11).
           10  NUM-STR-INT10           PIC 9(17).
           10  NUM-STR-INT11           PIC 9(18).
           10  NUM-STR-INT12           PIC 9(19).
           10  NUM-STR-INT13           PIC 9(20).
      *    NUM_STR_INT14 would be PIC 9(37): more than 31 digits.
           10  FILLER                  PIC X(37).
      *    Zoned decimal, overpunched trailing sign.
           10  NUM-STR-SINT02          PIC S9(2).
           10  NUM-STR-SINT03          PIC S9(3).
           10  NUM-STR-SINT04          PIC S9(4).
           10  NUM-STR-SINT05          PIC S9(5).
           10  NUM-STR-SINT06          PIC S9(8).
           10  NUM-STR-SINT07          PIC S9(9).
           10  NUM-STR-SINT08          PIC S9(10).
           10  NUM-STR-SINT09          PIC S9(11).
           10  NUM-STR-SINT10          PIC S9(17).
           10  NUM-STR-SINT11          PIC S9(18).
           10  NUM-STR-SINT12          PIC S9(19).
           10  NUM-STR-SINT13          PIC S9(20).
      *    NUM_STR_SINT14 would be PIC S9(37): more than 31 digits.
           10  FILLER                  PIC X(37).
      *    Zoned decimal with an implied point.
           10  NUM-STR-DEC01           PIC 9(2)V9.
           10  NUM-STR-DEC02           PIC 9(2)V99.
           10  NUM-STR-DEC03           PIC 9(3)V99.
           10  NUM-STR-DEC04           PIC 9(4)V9(4).
           10  NUM-STR-DEC05           PIC 9(5)V9(4).
           10  NUM-STR-DEC06           PIC 9(5)V9(5).
           10  NUM-STR-DEC07           PIC 9(15)V99.
           10  NUM-STR-DEC08           PIC 9(16)V99.
           10  NUM-STR-DEC09           PIC 9(17)V99.
           10  NUM-STR-DEC10           PIC 9(18)V9(10).
           10  NUM-STR-SDEC01          PIC S9(2)V9.
           10  NUM-STR-SDEC02          PIC S9(2)V99.
           10  NUM-STR-SDEC03          PIC S9(3)V99.
           10  NUM-STR-SDEC04          PIC S9(4)V9(4).
           10  NUM-STR-SDEC05          PIC S9(5)V9(4).
           10  NUM-STR-SDEC06          PIC S9(5)V9(5).
           10  NUM-STR-SDEC07          PIC S9(15)V99.
           10  NUM-STR-SDEC08          PIC S9(16)V99.
           10  NUM-STR-SDEC09          PIC S9(17)V99.
           10  NUM-STR-SDEC10          PIC S9(18)V9(10).
      *    Written point and overpunched last digit: not a COBOL
      *    picture, so text here (see the test's exception table).
           10  NUM-STR-EDEC03          PIC X(6).
           10  NUM-STR-EDEC04          PIC X(9).
           10  NUM-STR-EDEC05          PIC X(10).
           10  NUM-STR-EDEC06          PIC X(11).
      *    Binary, unsigned whole numbers.
           10  NUM-BIN-INT01           PIC 9(1)        COMP.
           10  NUM-BIN-INT02           PIC 9(2)        COMP.
           10  NUM-BIN-INT03           PIC 9(3)        COMP.
           10  NUM-BIN-INT04           PIC 9(4)        COMP.
           10  NUM-BIN-INT05           PIC 9(5)        COMP.
           10  NUM-BIN-INT06           PIC 9(8)        COMP.
           10  NUM-BIN-INT07           PIC 9(9)        COMP.
           10  NUM-BIN-INT08           PIC 9(10)       COMP.
           10  NUM-BIN-INT09           PIC 9(11)       COMP.
           10  NUM-BIN-INT10           PIC 9(17)       COMP.
           10  NUM-BIN-INT11           PIC 9(18)       COMP.
      *    NUM_BIN_INT12 to 14: 19, 20 and 37 digits in 9, 9 and 16
      *    bytes; COBOL binary stops at 18 digits in 8 bytes.
           10  FILLER                  PIC X(9).
           10  FILLER                  PIC X(9).
           10  FILLER                  PIC X(16).
      *    Binary, signed whole numbers.
           10  NUM-SBIN-SINT01         PIC S9(1)       COMP.
           10  NUM-SBIN-SINT02         PIC S9(2)       COMP.
           10  NUM-SBIN-SINT03         PIC S9(3)       COMP.
           10  NUM-SBIN-SINT04         PIC S9(4)       COMP.
           10  NUM-SBIN-SINT05         PIC S9(5)       COMP.
           10  NUM-SBIN-SINT06         PIC S9(8)       COMP.
           10  NUM-SBIN-SINT07         PIC S9(9)       COMP.
           10  NUM-SBIN-SINT08         PIC S9(10)      COMP.
           10  NUM-SBIN-SINT09         PIC S9(11)      COMP.
           10  NUM-SBIN-SINT10         PIC S9(17)      COMP.
           10  NUM-SBIN-SINT11         PIC S9(18)      COMP.
           10  FILLER                  PIC X(9).
           10  FILLER                  PIC X(9).
           10  FILLER                  PIC X(16).
      *    Binary with an implied point.
           10  NUM-BIN-DEC01           PIC 9(2)V9      COMP.
           10  NUM-BIN-DEC02           PIC 9(2)V99     COMP.
           10  NUM-BIN-DEC03           PIC 9(3)V99     COMP.
           10  NUM-BIN-DEC04           PIC 9(4)V9(4)   COMP.
           10  NUM-BIN-DEC05           PIC 9(5)V9(4)   COMP.
           10  NUM-BIN-DEC06           PIC 9(5)V9(5)   COMP.
           10  NUM-BIN-DEC07           PIC 9(15)V99    COMP.
           10  NUM-BIN-DEC08           PIC 9(16)V99    COMP.
      *    NUM_BIN_DEC09, DEC10: 19 and 28 digits in 9 and 12 bytes.
           10  FILLER                  PIC X(9).
           10  FILLER                  PIC X(12).
           10  NUM-SBIN-DEC01          PIC S9(2)V9     COMP.
           10  NUM-SBIN-DEC02          PIC S9(2)V99    COMP.
           10  NUM-SBIN-DEC03          PIC S9(3)V99    COMP.
           10  NUM-SBIN-DEC04          PIC S9(4)V9(4)  COMP.
           10  NUM-SBIN-DEC05          PIC S9(5)V9(4)  COMP.
           10  NUM-SBIN-DEC06          PIC S9(5)V9(5)  COMP.
           10  NUM-SBIN-DEC07          PIC S9(15)V99   COMP.
           10  NUM-SBIN-DEC08          PIC S9(16)V99   COMP.
           10  FILLER                  PIC X(9).
           10  FILLER                  PIC X(12).
      *    Packed decimal, whole numbers (unsigned: sign nibble F).
           10  NUM-BCD-INT01           PIC 9(1)        COMP-3.
           10  NUM-BCD-INT02           PIC 9(2)        COMP-3.
           10  NUM-BCD-INT03           PIC 9(3)        COMP-3.
           10  NUM-BCD-INT04           PIC 9(4)        COMP-3.
           10  NUM-BCD-INT05           PIC 9(5)        COMP-3.
           10  NUM-BCD-INT06           PIC 9(8)        COMP-3.
           10  NUM-BCD-INT07           PIC 9(9)        COMP-3.
           10  NUM-BCD-INT08           PIC 9(10)       COMP-3.
           10  NUM-BCD-INT09           PIC 9(11)       COMP-3.
           10  NUM-BCD-INT10           PIC 9(17)       COMP-3.
           10  NUM-BCD-INT11           PIC 9(18)       COMP-3.
           10  NUM-BCD-INT12           PIC 9(19)       COMP-3.
           10  NUM-BCD-INT13           PIC 9(20)       COMP-3.
      *    NUM_BCD_INT14 would be PIC 9(37) COMP-3: over 31 digits.
           10  FILLER                  PIC X(19).
           10  NUM-BCD-SINT01          PIC S9(1)       COMP-3.
           10  NUM-BCD-SINT02          PIC S9(2)       COMP-3.
           10  NUM-BCD-SINT03          PIC S9(3)       COMP-3.
           10  NUM-BCD-SINT04          PIC S9(4)       COMP-3.
           10  NUM-BCD-SINT05          PIC S9(5)       COMP-3.
           10  NUM-BCD-SINT06          PIC S9(8)       COMP-3.
           10  NUM-BCD-SINT07          PIC S9(9)       COMP-3.
           10  NUM-BCD-SINT08          PIC S9(10)      COMP-3.
           10  NUM-BCD-SINT09          PIC S9(11)      COMP-3.
           10  NUM-BCD-SINT10          PIC S9(17)      COMP-3.
           10  NUM-BCD-SINT11          PIC S9(18)      COMP-3.
           10  NUM-BCD-SINT12          PIC S9(19)      COMP-3.
           10  NUM-BCD-SINT13          PIC S9(20)      COMP-3.
           10  FILLER                  PIC X(19).
      *    Packed decimal with an implied point.
           10  NUM-BCD-DEC01           PIC 9(2)V9      COMP-3.
           10  NUM-BCD-DEC02           PIC 9(2)V99     COMP-3.
           10  NUM-BCD-DEC03           PIC 9(3)V99     COMP-3.
           10  NUM-BCD-DEC04           PIC 9(4)V9(4)   COMP-3.
           10  NUM-BCD-DEC05           PIC 9(5)V9(4)   COMP-3.
           10  NUM-BCD-DEC06           PIC 9(5)V9(5)   COMP-3.
           10  NUM-BCD-DEC07           PIC 9(15)V99    COMP-3.
           10  NUM-BCD-DEC08           PIC 9(16)V99    COMP-3.
           10  NUM-BCD-DEC09           PIC 9(17)V99    COMP-3.
           10  NUM-BCD-DEC10           PIC 9(18)V9(10) COMP-3.
           10  NUM-BCD-SDEC01          PIC S9(2)V9     COMP-3.
           10  NUM-BCD-SDEC02          PIC S9(2)V99    COMP-3.
           10  NUM-BCD-SDEC03          PIC S9(3)V99    COMP-3.
           10  NUM-BCD-SDEC04          PIC S9(4)V9(4)  COMP-3.
           10  NUM-BCD-SDEC05          PIC S9(5)V9(4)  COMP-3.
           10  NUM-BCD-SDEC06          PIC S9(5)V9(5)  COMP-3.
           10  NUM-BCD-SDEC07          PIC S9(15)V99   COMP-3.
           10  NUM-BCD-SDEC08          PIC S9(16)V99   COMP-3.
           10  NUM-BCD-SDEC09          PIC S9(17)V99   COMP-3.
           10  NUM-BCD-SDEC10          PIC S9(18)V9(10) COMP-3.
      *    Signs in a byte of their own, and overpunched leading and
      *    trailing; the *-DEBUG fields hold the same bytes as text.
           10  NUM-SL-STR-INT01        PIC S9(9)
                                       SIGN LEADING SEPARATE.
           10  NUM-SL-STR-DEC01        PIC S9(2)V99
                                       SIGN LEADING SEPARATE.
           10  NUM-ST-STR-INT01        PIC S9(9)
                                       SIGN TRAILING SEPARATE.
           10  NUM-ST-STR-DEC01        PIC S9(2)V99
                                       SIGN TRAILING SEPARATE.
           10  NUM-SLI-STR-DEC01       PIC SV9(7)      SIGN LEADING.
           10  NUM-STI-STR-DEC01       PIC SV9(7)      SIGN TRAILING.
           10  NUM-SLI-DEBUG           PIC X(7).
           10  NUM-STI-DEBUG           PIC X(7).
      *    IBM hexadecimal floating point.
           10  FLOAT-01                COMP-1.
           10  DOUBLE-01               COMP-2.
      *    A mix: binary, packed, and scaling positions (P).
           10  COMMON-8-BIN            PIC 9(8)        COMP.
           10  COMMON-S3-BIN           PIC S9(3)       COMP.
           10  COMMON-S94COMP          PIC S9(4)       COMP.
           10  COMMON-S8-BIN           PIC S9(8)       COMP.
           10  COMMON-DDC97-BIN        PIC 9V9(7)      COMP.
           10  COMMON-97COMP3          PIC 9(7)        COMP-3.
           10  COMMON-915COMP3         PIC 9(15)       COMP-3.
           10  COMMON-S95COMP3         PIC S9(5)       COMP-3.
           10  COMMON-S999DCCOMP3      PIC S9(9)V99    COMP-3.
           10  COMMON-S913COMP3        PIC S9(13)      COMP-3.
           10  COMMON-S913DCCOMP3      PIC S9(13)V99   COMP-3.
           10  COMMON-S911DCC2         PIC S9(11)V99   COMP-3.
           10  COMMON-S910DCC3         PIC S9(10)V999  COMP-3.
           10  COMMON-S03DDC           PIC SV9(5)      COMP-3.
           10  COMMON-U03DDC           PIC V9(5)       COMP-3.
           10  COMMON-UPC5DDC          PIC VPPP9(5)    COMP-3.
           10  COMMON-SPC5DDC          PIC SVPP9(5)    COMP-3.
           10  COMMON-UPI5DDC          PIC 9(5)PPP     COMP-3.
           10  COMMON-SPI5DDC          PIC S9(5)PPP    COMP-3.
           10  COMMON-UPC5DISP         PIC VPPP9(5).
           10  COMMON-UPI5DISP         PIC 9(5)PPP.
           10  COMMON-UPC1BIN          PIC VPPP9       COMP.
           10  COMMON-UPI1BIN          PIC 9PPP        COMP.
           10  COMMON-UPC3BIN          PIC VPPP9(3)    COMP.
           10  COMMON-UPI3BIN          PIC 9(3)PPP     COMP.
           10  COMMON-UPC5BIN          PIC VPPP9(5)    COMP.
           10  COMMON-UPI5BIN          PIC 9(5)PPP     COMP.
           10  COMMON-UPC10BIN         PIC VPPP9(10)   COMP.
           10  COMMON-UPI10BIN         PIC 9(10)PPP    COMP.
      *    External (DISPLAY) signed numbers; INT03, INT04 and DEC03 as
      *    numeric-edited pictures (their bytes read the same).
           10  EX-NUM-INT01            PIC S9(8)
                                       SIGN LEADING SEPARATE.
           10  EX-NUM-INT02            PIC S9(8)
                                       SIGN TRAILING SEPARATE.
           10  EX-NUM-INT03            PIC +9(8).
           10  EX-NUM-INT04            PIC 9(8)+.
           10  EX-NUM-DEC01            PIC S9(6)V99
                                       SIGN LEADING SEPARATE.
           10  EX-NUM-DEC02            PIC S9(6)V99
                                       SIGN TRAILING SEPARATE.
           10  EX-NUM-DEC03            PIC 9(6).99+.
